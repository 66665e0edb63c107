namespace Fabric.BlockBackend.Nbd;

/// <summary>Wire constants of the NBD protocol (fixed newstyle negotiation, simple replies). All big-endian.</summary>
internal static class NbdProtocol
{
    public const ulong NbdMagic = 0x4e42444d41474943;        // "NBDMAGIC"
    public const ulong OptionMagic = 0x49484156454F5054;     // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;

    // Handshake flags (server) and client flags.
    public const ushort FlagFixedNewstyle = 1;
    public const ushort FlagNoZeroes = 2;
    public const uint ClientFlagFixedNewstyle = 1;
    public const uint ClientFlagNoZeroes = 2;

    // Options.
    public const uint OptExportName = 1;
    public const uint OptAbort = 2;
    public const uint OptList = 3;
    public const uint OptStartTls = 5;
    public const uint OptInfo = 6;
    public const uint OptGo = 7;
    public const uint OptStructuredReply = 8;

    // Option replies.
    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepErrUnsupported = 0x80000001;
    public const uint RepErrPolicy = 0x80000002;
    public const uint RepErrInvalid = 0x80000003;
    public const uint RepErrUnknown = 0x80000006;
    public const uint RepErrTooBig = 0x80000009;

    // NBD_OPT_INFO/GO information types.
    public const ushort InfoExport = 0;
    public const ushort InfoName = 1;
    public const ushort InfoBlockSize = 3;

    // Transmission flags.
    public const ushort TxHasFlags = 1 << 0;
    public const ushort TxReadOnly = 1 << 1;
    public const ushort TxSendFlush = 1 << 2;
    public const ushort TxSendFua = 1 << 3;
    public const ushort TxSendTrim = 1 << 5;
    public const ushort TxSendWriteZeroes = 1 << 6;
    public const ushort TxCanMultiConn = 1 << 8;

    // Commands and command flags.
    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisconnect = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdCache = 5;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdFlagFua = 1 << 0;
    public const ushort CmdFlagNoHole = 1 << 1;
    public const ushort CmdFlagFastZero = 1 << 4;

    // Errors (Linux errno values, as the protocol defines them).
    public const uint EPERM = 1;
    public const uint EIO = 5;
    public const uint ENOMEM = 12;
    public const uint EINVAL = 22;
    public const uint ENOSPC = 28;
    public const uint EOVERFLOW = 75;
    public const uint ENOTSUP = 95;
    public const uint ESHUTDOWN = 108;

    public const int RequestHeaderBytes = 28;
    public const int SimpleReplyBytes = 16;
}
