using System.Diagnostics;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;

namespace Fabric.Bench.Membership;

/// <summary>
/// Bench 1: how long a map change takes to reach every node of a real 3-node cluster (separate node
/// processes, each with its own MapWatcher stream to the monitor on n1).
/// </summary>
/// <remarks>
/// The nodes' watchers are what counts, and the only window onto them without changing node code is
/// NodeAdmin.GetNodeStatus (map_epoch). So each change is timed by polling all three nodes in parallel:
/// <code>
///  bench                     n1 (monitor + node)        n2, n3
///   |-- poll GetNodeStatus ----------------------------->|   (old epoch; sent at s_old)
///   t0: ProposeChange ----->| commit, publish --WatchMap->| watcher takes epoch E (unseen instant a)
///   |<---- reply (t1) ------|                            |
///   |-- poll GetNodeStatus ----------------------------->|   (epoch E; answer received at r_new)
/// </code>
/// For each node, a lies in (max(s_old, t0), r_new]: the upper bound r_new - t0 is reported as the
/// propagation time (conservative), and r_new - max(s_old, t0) as the poll resolution of that sample.
/// </remarks>
public sealed class ThreeNodePropagation
{
    private static readonly RpcMethod<NodeStatusRequest, NodeStatus> GetNodeStatus =
        RpcMethod.From<NodeStatusRequest, NodeStatus>(NodeReflection.Descriptor, "fabric.NodeAdmin", "GetNodeStatus");

    private readonly LocalCluster _cluster;
    private readonly TimeSpan _pollInterval;

    public ThreeNodePropagation(LocalCluster cluster, TimeSpan pollInterval)
    {
        _cluster = cluster;
        _pollInterval = pollInterval;
    }

    public sealed record Result(
        LatencySummary FromCallUpperMs,
        LatencySummary FromCallLowerMs,
        LatencySummary FromReplyMs,
        LatencySummary ProposeMs,
        LatencySummary ResolutionMs,
        LatencySummary PollRttMs,
        int Discarded,
        string LoadBefore,
        string LoadAfter);

    private sealed class NodeProbe
    {
        public long LastOldSend;
        public long FirstNewReceive;
        public long Polls;
        public double RttMsSum;
    }

    public async Task<Result> RunAsync(int changes, int warmup, CancellationToken cancellationToken)
    {
        var loadBefore = MachineLoad.Describe();
        using var monitors = new MonitorClient([_cluster.Grpc(0)]);
        var channels = Enumerable.Range(0, _cluster.Nodes.Count)
            .Select(i => new RpcChannel(_cluster.Grpc(i), new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(2) }))
            .ToArray();
        try
        {
            var map = await monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
            var index = PoolFlip.FirstIndexFor(map);
            var baseline = map.Epoch;
            // Every node must be at the baseline before the first change, or the first sample measures catch-up.
            await WaitAllAtAsync(channels, baseline, cancellationToken).ConfigureAwait(false);

            var upper = new List<double>();
            var lower = new List<double>();
            var fromReply = new List<double>();
            var propose = new List<double>();
            var resolution = new List<double>();
            var rtt = new List<double>();
            var discarded = 0;
            for (int n = 0; n < warmup + changes; n++, index++)
            {
                using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                done.CancelAfter(TimeSpan.FromSeconds(30));
                var probes = channels.Select(_ => new NodeProbe()).ToArray();
                var t0 = Stopwatch.GetTimestamp();
                var pollers = channels.Select((channel, i) => PollUntilNewerAsync(channel, baseline, probes[i], t0, done.Token)).ToArray();
                var reply = await monitors.ProposeAsync(PoolFlip.Change(index), cancellationToken).ConfigureAwait(false);
                var t1 = Stopwatch.GetTimestamp();
                await Task.WhenAll(pollers).ConfigureAwait(false);
                var sampleOk = reply.Epoch == baseline + 1 && !reply.Duplicate;
                baseline = reply.Epoch;
                // Let the nodes settle at the new epoch before the next change (a node answering the
                // previous epoch would otherwise look like it still has the old one).
                await WaitAllAtAsync(channels, baseline, cancellationToken).ConfigureAwait(false);
                if (n < warmup) continue;
                if (!sampleOk)
                {
                    // Another change (the failure detector, say) slipped in: the nodes may have seen that epoch.
                    discarded++;
                    continue;
                }
                var upperTicks = probes.Max(p => p.FirstNewReceive) - t0;
                var lowerTicks = probes.Max(p => Math.Max(p.LastOldSend, t0)) - t0;
                upper.Add(Ms(upperTicks));
                lower.Add(Ms(lowerTicks));
                fromReply.Add(Ms(probes.Max(p => p.FirstNewReceive) - t1));
                propose.Add(Ms(t1 - t0));
                resolution.AddRange(probes.Select(p => Ms(p.FirstNewReceive - Math.Max(p.LastOldSend, t0))));
                rtt.AddRange(probes.Where(p => p.Polls > 0).Select(p => p.RttMsSum / p.Polls));
            }
            return new Result(LatencySummary.Of(upper), LatencySummary.Of(lower), LatencySummary.Of(fromReply), LatencySummary.Of(propose),
                LatencySummary.Of(resolution), LatencySummary.Of(rtt), discarded, loadBefore, MachineLoad.Describe());
        }
        finally
        {
            foreach (var channel in channels) channel.Dispose();
        }
    }

    private async Task PollUntilNewerAsync(RpcChannel channel, ulong baseline, NodeProbe probe, long t0, CancellationToken cancellationToken)
    {
        probe.LastOldSend = t0;
        while (true)
        {
            var send = Stopwatch.GetTimestamp();
            var status = await channel.UnaryAsync(GetNodeStatus, new NodeStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(5), cancellationToken)).ConfigureAwait(false);
            var receive = Stopwatch.GetTimestamp();
            probe.Polls++;
            probe.RttMsSum += Ms(receive - send);
            if (status.MapEpoch > baseline)
            {
                probe.FirstNewReceive = receive;
                return;
            }
            probe.LastOldSend = Math.Max(send, t0);
            if (_pollInterval > TimeSpan.Zero) await Task.Delay(_pollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WaitAllAtAsync(RpcChannel[] channels, ulong epoch, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        foreach (var channel in channels)
        {
            while (true)
            {
                var status = await channel.UnaryAsync(GetNodeStatus, new NodeStatusRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(5), deadline.Token)).ConfigureAwait(false);
                if (status.MapEpoch >= epoch) break;
                await Task.Delay(5, deadline.Token).ConfigureAwait(false);
            }
        }
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
