using Fabric.Core.Map;
using Fabric.Core.Time;
using Fabric.Membership.Monitor;
using Fabric.Membership.Store;
using Fabric.Proto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Membership.Tests;

/// <summary>A monitor on a manual clock and an in-memory store, for tests of membership logic.</summary>
internal sealed class MonitorHarness
{
    public ManualTimeProvider Time { get; } = new();

    public MonitorCore Monitor { get; }

    public MonitorHarness(IMapStore? store = null, uint graceMs = 3000, uint downOutMs = 60000)
    {
        Monitor = new MonitorCore(store ?? new MemoryMapStore(), new MapHistory(), new FailureDetector(new FailureDetectorOptions(), Time), Time, NullLogger.Instance);
        Monitor.InitializeAsync(() => MapTransactions.Genesis("test", "fsid-test",
            new ClusterSettings { HeartbeatIntervalMs = 500, HeartbeatGraceMs = graceMs, DownOutIntervalMs = downOutMs },
            new MonitorSet { Names = { "n1" }, Store = "memory" }, Time.GetUtcNow().ToUnixTimeMilliseconds()), CancellationToken.None).GetAwaiter().GetResult();
    }

    public ClusterMap Map => Monitor.Current!;

    public JoinReply Join(string name, string address)
    {
        var outcome = Monitor.JoinAsync(new JoinRequest { Name = name, GrpcAddress = address, DataAddress = "127.0.0.1", CapacityBytes = 1UL << 40 }, CancellationToken.None).GetAwaiter().GetResult();
        Assert.True(outcome.Error is null, outcome.Error?.Message);
        return outcome.Reply!;
    }

    /// <summary>Moves the clock in heartbeat-sized steps; the listed nodes heartbeat at each step and
    /// the detector runs, as the real monitor's loop does.</summary>
    public void Run(TimeSpan duration, params JoinReply[] beating)
    {
        var step = TimeSpan.FromMilliseconds(100);
        for (var elapsed = TimeSpan.Zero; elapsed < duration; elapsed += step)
        {
            Time.Advance(step);
            if ((long)(elapsed.TotalMilliseconds / 100) % 5 == 0)
            {
                foreach (var node in beating) Monitor.Heartbeat(new HeartbeatRequest { NodeId = node.NodeId, Incarnation = node.Incarnation });
            }
            Monitor.TickAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    public NodeInfo Node(string name) => Map.FindNode(name)!;
}
