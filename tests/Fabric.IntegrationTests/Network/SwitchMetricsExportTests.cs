// The switch's port counters as the node exports them: the node's PrometheusExporter listening to the
// "Fabric.Switch" meter while frames are forwarded. In process (no cluster): the exporter and the switch
// are the node's own classes.
using System.Globalization;
using Fabric.Node.Metrics;
using Fabric.Switch.Control;
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;
using Fabric.Switch.Ports;
using Xunit.Abstractions;

namespace Fabric.IntegrationTests.Network;

public sealed class SwitchMetricsExportTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Port_counters_are_prometheus_counters_with_port_labels_and_forwarding_allocates_nothing_while_exported()
    {
        using var exporter = new PrometheusExporter(meter => meter.StartsWith("Fabric", StringComparison.Ordinal));
        await using var sw = new VirtualSwitch(new SwitchOptions { NodeName = "m1" });
        await sw.StartAsync();
        var a = new MemoryPort("a-0", PortKind.Vm, record: false) { Network = "blue", Mac = MacAddress.Parse("52:54:00:00:00:01"), Ipv4 = IpBits.ParseIpv4("10.0.0.1") };
        var b = new MemoryPort("b-0", PortKind.Vm, record: false) { Network = "blue", Mac = MacAddress.Parse("52:54:00:00:00:02"), Ipv4 = IpBits.ParseIpv4("10.0.0.2") };
        await sw.InvokeAsync(dp =>
        {
            dp.SetNetworks([new NetworkSpec { Id = 1, Name = "blue", Kind = NetworkKind.Vxlan, Vni = 5001 }]);
            return true;
        });
        Assert.True((await sw.AttachAsync(a, null)).Ok);
        Assert.True((await sw.AttachAsync(b, null)).Ok);
        var frame = new byte[128];
        int n = PacketBuilder.Udp(frame, b.Mac, a.Mac, a.Ipv4, b.Ipv4, 40000, 9, new byte[32]);
        var spoofed = frame[..n].ToArray();
        MacAddress.Parse("52:54:00:66:66:66").Write(spoofed.AsSpan(6));
        Render(exporter); // the exporter has seen every instrument before the measurement

        const int Frames = 100_000;
        long allocated = await sw.InvokeAsync(dp =>
        {
            for (int i = 0; i < 1000; i++) dp.Process(a, frame.AsSpan(0, n)); // warm the cache and the JIT
            dp.Process(a, spoofed);
            dp.FlushPorts();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Frames; i++)
            {
                dp.Process(a, frame.AsSpan(0, n));
                if ((i & 63) == 63) dp.FlushPorts();
            }
            dp.Process(a, spoofed);
            dp.FlushPorts();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        output.WriteLine($"{Frames} frames forwarded with the exporter listening: {allocated} bytes allocated on the datapath thread");
        Assert.Equal(0, allocated);

        var text = Render(exporter);
        Assert.Contains("# TYPE fabric_switch_port_rx_packets_total counter", text);
        Assert.Contains("# TYPE fabric_switch_port_drops_total counter", text);
        Assert.Equal(Frames + 1002, Value(text, "fabric_switch_port_rx_packets_total{kind=\"vm\",network=\"blue\",node=\"m1\",port=\"a-0\"}"));
        Assert.Equal(Frames + 1000, Value(text, "fabric_switch_port_tx_packets_total{kind=\"vm\",network=\"blue\",node=\"m1\",port=\"b-0\"}"));
        Assert.Equal(2, Value(text, "fabric_switch_port_drops_total{kind=\"vm\",network=\"blue\",node=\"m1\",port=\"a-0\",reason=\"spoofedmac\"}"));

        // A detached port's series leave the output with it.
        await sw.DetachPortAsync("a-0", CancellationToken.None);
        Assert.DoesNotContain("port=\"a-0\"", Render(exporter));
    }

    private static string Render(PrometheusExporter exporter) => exporter.Render();

    private static double Value(string text, string series)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"no series {series} in:\n{text}");
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
