using Fabric.Core.Time;

namespace Fabric.Storage.Osd;

/// <summary>
/// Where an OSD's op time goes, as Ceph's OSD perf counters (`ceph daemon osd.N perf dump`: op_w_latency,
/// op_r_latency, subop_w_latency, commit latency) tell it: a histogram per stage, recorded on the OSD's loop thread
/// with no allocation, read by the node's /metrics at scrape time.
/// </summary>
/// <remarks>
/// The stages of a replicated write at its primary: <see cref="WritePrepare"/> (received until the replicated ops are
/// sent), then in parallel <see cref="LocalCommit"/> and one <see cref="ReplicaAck"/> per replica; the slowest of those
/// ends <see cref="WriteOp"/>. At a replica, <see cref="ReplicaCommit"/> is the same write from its side. The time
/// between a client's own latency and <see cref="WriteOp"/> is the network and the client.
/// </remarks>
public sealed class OsdPerfCounters
{
    /// <summary>A client write at its primary: received until acknowledged (op_w_latency).</summary>
    public LatencyHistogram WriteOp { get; } = new();

    /// <summary>A client write at its primary: received until its replicated ops are sent (op_w_prepare_latency).</summary>
    public LatencyHistogram WritePrepare { get; } = new();

    /// <summary>The primary's own copy: batch committed until durable here.</summary>
    public LatencyHistogram LocalCommit { get; } = new();

    /// <summary>A replicated op sent until that replica's durable acknowledgement arrives (subop_w_latency).</summary>
    public LatencyHistogram ReplicaAck { get; } = new();

    /// <summary>As a replica: a replicated op received until it is durable here and answered.</summary>
    public LatencyHistogram ReplicaCommit { get; } = new();

    /// <summary>A client read (or stat): received until answered (op_r_latency).</summary>
    public LatencyHistogram ReadOp { get; } = new();

    /// <summary>One sync of the store (the journal's fdatasync) that made batches durable.</summary>
    public LatencyHistogram StoreSync { get; } = new();

    /// <summary>Every histogram with its stage name, for exporters.</summary>
    public IEnumerable<(string Stage, LatencyHistogram Histogram)> Stages()
    {
        yield return ("write", WriteOp);
        yield return ("write_prepare", WritePrepare);
        yield return ("write_local_commit", LocalCommit);
        yield return ("write_replica_ack", ReplicaAck);
        yield return ("replica_commit", ReplicaCommit);
        yield return ("read", ReadOp);
        yield return ("store_sync", StoreSync);
    }
}
