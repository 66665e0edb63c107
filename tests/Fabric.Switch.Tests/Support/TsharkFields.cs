// Runs tshark over a pcap file and compares its decode of each frame with what FrameParser says.
using Fabric.Switch.Packets;

namespace Fabric.Switch.Tests.Support;

public static class TsharkFields
{
    private static readonly string[] Names =
    [
        "eth.src", "eth.dst", "eth.type", "vlan.id", "vlan.etype", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
        "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
        "icmp.type", "vxlan.vni",
    ];

    /// <summary>One dictionary per frame: field name -> all occurrences (outer first, then inner).</summary>
    public static List<Dictionary<string, string[]>> Read(string pcapPath, string? displayFilter = null)
    {
        var args = new List<string> { "-r", pcapPath, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=," };
        if (displayFilter is not null) { args.Add("-Y"); args.Add(displayFilter); }
        foreach (var n in Names) { args.Add("-e"); args.Add(n); }
        var (code, stdout, stderr) = Requirements.Run("tshark", args.ToArray());
        Assert.True(code == 0, $"tshark failed ({code}): {stderr}");
        var rows = new List<Dictionary<string, string[]>>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var cols = line.Split('|');
            var d = new Dictionary<string, string[]>();
            for (int i = 0; i < Names.Length && i < cols.Length; i++)
                d[Names[i]] = cols[i].Length == 0 ? [] : cols[i].Split(',');
            rows.Add(d);
        }
        return rows;
    }

    private static string First(Dictionary<string, string[]> row, string name, int occurrence = 0) =>
        row.TryGetValue(name, out var v) && v.Length > occurrence ? v[occurrence] : "";

    private static string Last(Dictionary<string, string[]> row, string name) =>
        row.TryGetValue(name, out var v) && v.Length > 0 ? v[^1] : "";

    /// <summary>Asserts that tshark's fields for a frame agree with our parse of it (and of its VXLAN payload).</summary>
    public static void AssertMatchesCodec(byte[] frame, Dictionary<string, string[]> row)
    {
        Assert.Equal(FrameError.None, FrameParser.Parse(frame.ToArray(), 0, out var key, out var layout));
        Assert.Equal(key.Source.ToString(), First(row, "eth.src"));
        Assert.Equal(key.Destination.ToString(), First(row, "eth.dst"));
        bool isVxlan = key.EthType == EtherType.Ipv4 && key.IpProto == IpProtocol.Udp && key.L4Dst == VxlanHeader.DefaultPort;
        if (key.HasVlan) Assert.Equal(key.VlanId.ToString(), First(row, "vlan.id"));
        else if (!isVxlan) Assert.Equal("", First(row, "vlan.id"));
        if (isVxlan)
        {
            int vx = layout.L4Offset + UdpDatagram.HeaderLength;
            Assert.Equal(FrameError.None, FrameParser.ParseVxlan(frame.AsSpan(vx).ToArray(), 0, out var inner, out _));
            Assert.Equal(inner.Vni.ToString(), First(row, "vxlan.vni"));
            Assert.Equal(IpBits.Format(key.IpSrc), First(row, "ip.src"));
            Assert.Equal(IpBits.Format(key.IpDst), First(row, "ip.dst"));
            // The inner frame: the second occurrence of each field.
            Assert.Equal(inner.Source.ToString(), First(row, "eth.src", 1));
            Assert.Equal(inner.Destination.ToString(), First(row, "eth.dst", 1));
            if (inner.HasVlan) Assert.Equal(inner.VlanId.ToString(), Last(row, "vlan.id"));
            else if (!key.HasVlan) Assert.Equal("", First(row, "vlan.id"));
            AssertL3(inner, row, last: true);
            return;
        }
        AssertL3(key, row, last: false);
    }

    private static void AssertL3(FlowKey key, Dictionary<string, string[]> row, bool last)
    {
        string F(string name) => last ? Last(row, name) : First(row, name);
        switch (key.EthType)
        {
            case EtherType.Arp:
                Assert.Equal(key.IpProto.ToString(), F("arp.opcode"));
                Assert.Equal(IpBits.Format(key.IpSrc), F("arp.src.proto_ipv4"));
                Assert.Equal(IpBits.Format(key.IpDst), F("arp.dst.proto_ipv4"));
                break;
            case EtherType.Ipv4:
                Assert.Equal(IpBits.Format(key.IpSrc), F("ip.src"));
                Assert.Equal(IpBits.Format(key.IpDst), F("ip.dst"));
                Assert.Equal(key.IpProto.ToString(), F("ip.proto"));
                break;
            case EtherType.Ipv6:
                Assert.Equal(IpBits.Format(key.IpSrc), F("ipv6.src"));
                Assert.Equal(IpBits.Format(key.IpDst), F("ipv6.dst"));
                break;
        }
        switch (key.IpProto)
        {
            case IpProtocol.Udp when key.IsIp:
                Assert.Equal(key.L4Src.ToString(), F("udp.srcport"));
                Assert.Equal(key.L4Dst.ToString(), F("udp.dstport"));
                break;
            case IpProtocol.Tcp when key.IsIp:
                Assert.Equal(key.L4Src.ToString(), F("tcp.srcport"));
                Assert.Equal(key.L4Dst.ToString(), F("tcp.dstport"));
                break;
            case IpProtocol.Icmp when key.EthType == EtherType.Ipv4:
                Assert.Equal(key.L4Src.ToString(), F("icmp.type"));
                break;
        }
    }
}
