namespace Fabric.BlockBackend.VhostUser;

/// <summary>How a vhost-user-blk device presents its volume.</summary>
public sealed record VhostUserBlkOptions
{
    /// <summary>Queues offered (GET_QUEUE_NUM); QEMU's num-queues must not exceed it.</summary>
    public int NumQueues { get; init; } = 1;

    /// <summary>Present the disk read-only (VIRTIO_BLK_F_RO), whatever the volume allows.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>What GET_ID answers (20 bytes, truncated); the volume name when null.</summary>
    public string? SerialId { get; init; }

    /// <summary>Largest data payload of one request; larger requests fail with IOERR.</summary>
    public int MaxRequestBytes { get; init; } = 32 << 20;
}
