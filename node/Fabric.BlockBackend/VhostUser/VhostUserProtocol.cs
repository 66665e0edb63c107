namespace Fabric.BlockBackend.VhostUser;

/// <summary>Message codes, flags and feature bits of the vhost-user protocol (docs/interop/vhost-user.rst).</summary>
internal static class VhostUserProtocol
{
    public const int HeaderBytes = 12;
    /// <summary>Largest payload we accept; every message we handle is far below it.</summary>
    public const int MaxPayloadBytes = 4096;
    public const int MaxFdsPerMessage = 8;
    public const int MaxMemoryRegions = 8;
    public const int MaxQueues = 16;

    public const uint FlagVersion = 0x1;
    public const uint FlagVersionMask = 0x3;
    public const uint FlagReply = 0x4;
    public const uint FlagNeedReply = 0x8;

    // Front-end requests.
    public const uint GetFeatures = 1;
    public const uint SetFeatures = 2;
    public const uint SetOwner = 3;
    public const uint ResetOwner = 4;
    public const uint SetMemTable = 5;
    public const uint SetLogBase = 6;
    public const uint SetLogFd = 7;
    public const uint SetVringNum = 8;
    public const uint SetVringAddr = 9;
    public const uint SetVringBase = 10;
    public const uint GetVringBase = 11;
    public const uint SetVringKick = 12;
    public const uint SetVringCall = 13;
    public const uint SetVringErr = 14;
    public const uint GetProtocolFeatures = 15;
    public const uint SetProtocolFeatures = 16;
    public const uint GetQueueNum = 17;
    public const uint SetVringEnable = 18;
    public const uint GetConfig = 24;
    public const uint SetConfig = 25;
    public const uint GetInflightFd = 31;
    public const uint SetInflightFd = 32;
    public const uint ResetDevice = 34;
    public const uint GetMaxMemSlots = 36;

    // Protocol feature bits.
    public const int ProtocolMq = 0;
    public const int ProtocolLogShmfd = 1;
    public const int ProtocolReplyAck = 3;
    public const int ProtocolConfig = 9;
    public const int ProtocolInflightShmfd = 12;
    public const int ProtocolResetDevice = 13;

    // Device feature bits (virtio + vhost).
    public const int FeatureLogAll = 26;
    public const int FeatureIndirectDesc = 28;
    public const int FeatureEventIdx = 29;
    public const int FeatureProtocolFeatures = 30;
    public const int FeatureVersion1 = 32;

    /// <summary>SET_VRING_KICK/CALL/ERR: bit 8 of the u64 says "no file descriptor" (polling).</summary>
    public const ulong VringNoFdMask = 0x100;
    public const ulong VringIndexMask = 0xff;

    /// <summary>SET_VRING_ADDR flags: log writes to the used ring.</summary>
    public const uint VringFlagLog = 0x1;

    public static string Name(uint request) => request switch
    {
        GetFeatures => "GET_FEATURES",
        SetFeatures => "SET_FEATURES",
        SetOwner => "SET_OWNER",
        ResetOwner => "RESET_OWNER",
        SetMemTable => "SET_MEM_TABLE",
        SetLogBase => "SET_LOG_BASE",
        SetLogFd => "SET_LOG_FD",
        SetVringNum => "SET_VRING_NUM",
        SetVringAddr => "SET_VRING_ADDR",
        SetVringBase => "SET_VRING_BASE",
        GetVringBase => "GET_VRING_BASE",
        SetVringKick => "SET_VRING_KICK",
        SetVringCall => "SET_VRING_CALL",
        SetVringErr => "SET_VRING_ERR",
        GetProtocolFeatures => "GET_PROTOCOL_FEATURES",
        SetProtocolFeatures => "SET_PROTOCOL_FEATURES",
        GetQueueNum => "GET_QUEUE_NUM",
        SetVringEnable => "SET_VRING_ENABLE",
        GetConfig => "GET_CONFIG",
        SetConfig => "SET_CONFIG",
        GetInflightFd => "GET_INFLIGHT_FD",
        SetInflightFd => "SET_INFLIGHT_FD",
        ResetDevice => "RESET_DEVICE",
        GetMaxMemSlots => "GET_MAX_MEM_SLOTS",
        _ => $"request {request}",
    };
}
