using Fabric.Core.Map;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;

namespace Fabric.Client.Admin;

/// <summary>What a scrub request asks for.</summary>
public enum ScrubKind
{
    Scrub,
    DeepScrub,
    Repair,
}

/// <summary>
/// Calls to the nodes' StorageAdmin service (proto/storage.proto) for the data services: scrub a PG at
/// its primary and wait for it, list inconsistent objects, and sum a volume's space over every node.
/// The CLI, the benchmarks and the tests use it.
/// </summary>
public static class StorageAdmin
{
    private const string Service = "fabric.StorageAdmin";

    public static readonly RpcMethod<ListPgsRequest, ListPgsReply> ListPgs = RpcMethod.From<ListPgsRequest, ListPgsReply>(StorageReflection.Descriptor, Service, "ListPgs");

    public static readonly RpcMethod<OsdStatusRequest, OsdStatusReply> OsdStatus = RpcMethod.From<OsdStatusRequest, OsdStatusReply>(StorageReflection.Descriptor, Service, "OsdStatus");

    public static readonly RpcMethod<ScrubPgRequest, ScrubPgReply> Scrub = RpcMethod.From<ScrubPgRequest, ScrubPgReply>(StorageReflection.Descriptor, Service, "Scrub");

    public static readonly RpcMethod<ScrubPgRequest, ScrubPgReply> DeepScrub = RpcMethod.From<ScrubPgRequest, ScrubPgReply>(StorageReflection.Descriptor, Service, "DeepScrub");

    public static readonly RpcMethod<ScrubPgRequest, ScrubPgReply> Repair = RpcMethod.From<ScrubPgRequest, ScrubPgReply>(StorageReflection.Descriptor, Service, "Repair");

    public static readonly RpcMethod<ListInconsistentRequest, ListInconsistentReply> ListInconsistent =
        RpcMethod.From<ListInconsistentRequest, ListInconsistentReply>(StorageReflection.Descriptor, Service, "ListInconsistent");

    public static readonly RpcMethod<VolumeUsageRequest, VolumeUsageReply> VolumeUsage =
        RpcMethod.From<VolumeUsageRequest, VolumeUsageReply>(StorageReflection.Descriptor, Service, "VolumeUsage");

    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Asks the PG's primary (from the map) to scrub it, then waits until a scrub of that kind completed
    /// after the request. Returns the primary's PG status afterwards; throws <see cref="RpcException"/>
    /// when the primary refuses or does not answer, <see cref="OperationCanceledException"/> on timeout.
    /// </summary>
    public static async Task<PgStatus> ScrubAndWaitAsync(ClusterMap map, PgId pg, ScrubKind kind, CancellationToken cancellationToken)
    {
        PgMapping mapping = PlacementMap.Build(map).Get(pg) ?? throw new RpcException(StatusCode.NotFound, $"PG {pg} does not exist (fabric pg list shows the PGs)");
        NodeInfo node = map.FindNode((uint)mapping.Primary) ?? throw new RpcException(StatusCode.Unavailable, $"PG {pg} has no primary up: it cannot be scrubbed now");
        using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
        var request = new ScrubPgRequest { Pg = pg.ToString() };
        RpcMethod<ScrubPgRequest, ScrubPgReply> method = kind switch { ScrubKind.DeepScrub => DeepScrub, ScrubKind.Repair => Repair, _ => Scrub };
        ScrubPgReply reply = await channel.UnaryAsync(method, request, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false);
        if (!reply.Accepted)
        {
            throw new RpcException(StatusCode.FailedPrecondition, reply.Error);
        }
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            ListPgsReply pgs = await channel.UnaryAsync(ListPgs, new ListPgsRequest { Pool = pg.Pool, PrimaryOnly = true }, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false);
            PgStatus? status = pgs.Pgs.FirstOrDefault(p => p.Pg == pg.ToString());
            if (status is null)
            {
                throw new RpcException(StatusCode.Unavailable, $"osd.{mapping.Primary} is no longer the primary of PG {pg}; run the scrub again");
            }
            bool done = kind == ScrubKind.Scrub ? status.Scrubs > reply.Scrubs : status.DeepScrubs > reply.DeepScrubs;
            // A repair is done once the bad copies are rewritten too (recovery leaves the PG degraded until then).
            if (done && (kind != ScrubKind.Repair || !status.State.Contains("degraded", StringComparison.Ordinal)))
            {
                return status;
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 500));
        }
    }

    /// <summary>Inconsistent objects from every node that answers (each reports the PGs it leads).</summary>
    public static async Task<(List<InconsistentObject> Objects, List<string> Errors)> ListInconsistentAsync(ClusterMap map, string pg, CancellationToken cancellationToken)
    {
        var objects = new List<InconsistentObject>();
        var errors = new List<string>();
        foreach (Task<(ListInconsistentReply? Reply, string? Error)> call in map.Nodes.Where(n => n.State == NodeState.Up).Select(node => CallAsync(node, ListInconsistent, new ListInconsistentRequest { Pg = pg }, cancellationToken)).ToList())
        {
            (ListInconsistentReply? reply, string? error) = await call.ConfigureAwait(false);
            if (reply is not null)
            {
                objects.AddRange(reply.Objects);
            }
            else if (error is not null)
            {
                errors.Add(error);
            }
        }
        return (objects.OrderBy(o => o.Pg).ThenBy(o => o.Object, StringComparer.Ordinal).ToList(), errors);
    }

    /// <summary>A volume's space summed over every node that answers (each counts the PGs it leads).</summary>
    public static async Task<(VolumeUsageReply Total, List<string> Errors)> VolumeUsageAsync(ClusterMap map, VolumeInfo volume, CancellationToken cancellationToken)
    {
        var total = new VolumeUsageReply { Osd = -1 };
        var perSnap = new SortedDictionary<ulong, ulong>();
        var errors = new List<string>();
        var request = new VolumeUsageRequest { Pool = volume.PoolId, VolumeId = volume.Id };
        foreach (Task<(VolumeUsageReply? Reply, string? Error)> call in map.Nodes.Where(n => n.State == NodeState.Up).Select(node => CallAsync(node, VolumeUsage, request, cancellationToken)).ToList())
        {
            (VolumeUsageReply? reply, string? error) = await call.ConfigureAwait(false);
            if (reply is null)
            {
                errors.Add(error!);
                continue;
            }
            total.Objects += reply.Objects;
            total.HeadBytes += reply.HeadBytes;
            total.SnapshotBytes += reply.SnapshotBytes;
            foreach (SnapUsage snap in reply.Snaps)
            {
                perSnap[snap.SnapId] = perSnap.GetValueOrDefault(snap.SnapId) + snap.Bytes;
            }
        }
        total.Snaps.AddRange(perSnap.Select(p => new SnapUsage { SnapId = p.Key, Bytes = p.Value }));
        return (total, errors);
    }

    private static async Task<(TResponse? Reply, string? Error)> CallAsync<TRequest, TResponse>(NodeInfo node, RpcMethod<TRequest, TResponse> method, TRequest request, CancellationToken cancellationToken)
        where TRequest : class, Google.Protobuf.IMessage<TRequest>, new()
        where TResponse : class, Google.Protobuf.IMessage<TResponse>, new()
    {
        try
        {
            using var channel = new RpcChannel(node.GrpcAddress, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) });
            return (await channel.UnaryAsync(method, request, CallOptions.WithTimeout(CallTimeout, cancellationToken)).ConfigureAwait(false), null);
        }
        catch (RpcException e)
        {
            return (null, $"node {node.Name}: {e.StatusCode}: {e.Detail}");
        }
    }
}
