using Fabric.Switch.Datapath;
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;

namespace Fabric.Switch.Control;

public sealed record PortStatsSnapshot(
    string Name, PortKind Kind, string Network, bool Active,
    long RxPackets, long RxBytes, long TxPackets, long TxBytes, long DropPackets, long DropBytes,
    IReadOnlyDictionary<DropReason, long> Drops, IReadOnlyDictionary<FrameError, long> Malformed, string Description);

public sealed record SwitchStats(IReadOnlyList<PortStatsSnapshot> Ports, long FramesProcessed, long CacheHits, long CacheMisses)
{
    internal static SwitchStats From(IEnumerable<SwitchPort> ports, SwitchDatapath dp)
    {
        var list = new List<PortStatsSnapshot>();
        foreach (var p in ports)
        {
            var c = p.Counters;
            var drops = new Dictionary<DropReason, long>();
            for (int i = 1; i < c.DropsByReason.Length; i++)
                if (c.DropsByReason[i] != 0) drops[(DropReason)i] = c.DropsByReason[i];
            var malformed = new Dictionary<FrameError, long>();
            for (int i = 1; i < c.MalformedByError.Length; i++)
                if (c.MalformedByError[i] != 0) malformed[(FrameError)i] = c.MalformedByError[i];
            list.Add(new PortStatsSnapshot(p.Name, p.Kind, p.Network, p.Active, c.RxPackets, c.RxBytes, c.TxPackets, c.TxBytes,
                c.DropPackets, c.DropBytes, drops, malformed, p.Describe()));
        }
        return new SwitchStats(list, dp.FramesProcessed, dp.Cache.Hits, dp.Cache.Misses);
    }
}
