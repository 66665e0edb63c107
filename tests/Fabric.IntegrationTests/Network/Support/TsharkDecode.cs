using System.Diagnostics;
using Fabric.Switch.Packets;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// Wireshark's decoder (tshark) over a pcap file: fields per frame, and the check that tshark reads a
/// frame exactly as our codec (FrameParser) does: addresses, 802.1Q id, VNI and the frame inside VXLAN.
/// </summary>
public static class TsharkDecode
{
    private static readonly string[] CodecFields =
    [
        "eth.src", "eth.dst", "vlan.id", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
        "ip.src", "ip.dst", "ip.proto", "udp.srcport", "udp.dstport", "tcp.dstport", "icmp.type", "vxlan.vni",
    ];

    /// <summary>One dictionary per frame: field -> its occurrences joined by ',' (outer first, then inner).</summary>
    public static async Task<List<Dictionary<string, string>>> FieldsAsync(string pcap, params string[] fields)
    {
        var start = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-r", pcap, "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=," }) start.ArgumentList.Add(a);
        foreach (var f in fields)
        {
            start.ArgumentList.Add("-e");
            start.ArgumentList.Add(f);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("tshark did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"tshark -r {pcap} failed ({process.ExitCode}): {await stderr}");
        return (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var columns = line.Split('|');
            return fields.Select((f, i) => (f, i < columns.Length ? columns[i] : "")).ToDictionary(x => x.f, x => x.Item2);
        }).ToList();
    }

    /// <summary>
    /// Decodes every frame of <paramref name="pcap"/> with tshark and compares each with our parse of it;
    /// returns tshark's rows (the codec's fields and <paramref name="moreFields"/>) for further checks.
    /// </summary>
    public static async Task<List<Dictionary<string, string>>> AssertMatchesCodecAsync(string pcap, params string[] moreFields)
    {
        var rows = await FieldsAsync(pcap, CodecFields.Union(moreFields).ToArray());
        var records = Fabric.Switch.Capture.PcapReader.TryRead(await File.ReadAllBytesAsync(pcap), out var error)?.Records
            ?? throw new Xunit.Sdk.XunitException($"{pcap} is not a pcap file: {error}");
        Assert.Equal(records.Count, rows.Count);
        for (int i = 0; i < records.Count; i++) AssertFrame(records[i].Data, rows[i], i);
        return rows;
    }

    private static string Occurrence(Dictionary<string, string> row, string field, int index)
    {
        var values = row[field].Length == 0 ? [] : row[field].Split(',');
        return index < values.Length ? values[index] : "";
    }

    private static string Last(Dictionary<string, string> row, string field) => row[field].Length == 0 ? "" : row[field].Split(',')[^1];

    private static void AssertFrame(byte[] frame, Dictionary<string, string> row, int index)
    {
        string at = $"frame {index + 1}";
        Assert.True(FrameParser.Parse(frame.ToArray(), 0, out var key, out var layout) == FrameError.None, $"{at}: our codec cannot parse it");
        Assert.Equal(key.Source.ToString(), Occurrence(row, "eth.src", 0));
        Assert.Equal(key.Destination.ToString(), Occurrence(row, "eth.dst", 0));
        Assert.Equal(key.HasVlan ? key.VlanId.ToString() : "", Occurrence(row, "vlan.id", 0));
        bool vxlan = key.EthType == EtherType.Ipv4 && key.IpProto == IpProtocol.Udp && key.L4Dst == VxlanHeader.DefaultPort;
        var inner = key;
        if (vxlan)
        {
            Assert.Equal(IpBits.Format(key.IpSrc), Occurrence(row, "ip.src", 0));
            Assert.Equal(IpBits.Format(key.IpDst), Occurrence(row, "ip.dst", 0));
            var payload = frame.AsSpan(layout.L4Offset + UdpDatagram.HeaderLength).ToArray();
            Assert.True(FrameParser.ParseVxlan(payload, 0, out inner, out _) == FrameError.None, $"{at}: our codec cannot parse the VXLAN payload");
            Assert.Equal(inner.Vni.ToString(), row["vxlan.vni"]);
            Assert.Equal(inner.Source.ToString(), Occurrence(row, "eth.src", 1));
            Assert.Equal(inner.Destination.ToString(), Occurrence(row, "eth.dst", 1));
        }
        else
        {
            Assert.Equal("", row["vxlan.vni"]);
        }
        switch (inner.EthType)
        {
            case EtherType.Arp:
                Assert.Equal(inner.IpProto.ToString(), Last(row, "arp.opcode"));
                Assert.Equal(IpBits.Format(inner.IpSrc), Last(row, "arp.src.proto_ipv4"));
                Assert.Equal(IpBits.Format(inner.IpDst), Last(row, "arp.dst.proto_ipv4"));
                break;
            case EtherType.Ipv4:
                Assert.Equal(IpBits.Format(inner.IpSrc), Last(row, "ip.src"));
                Assert.Equal(IpBits.Format(inner.IpDst), Last(row, "ip.dst"));
                Assert.Equal(inner.IpProto.ToString(), Last(row, "ip.proto"));
                if (inner.IpProto == IpProtocol.Icmp) Assert.Equal(inner.L4Src.ToString(), Last(row, "icmp.type"));
                if (inner.IpProto == IpProtocol.Tcp) Assert.Equal(inner.L4Dst.ToString(), Last(row, "tcp.dstport"));
                break;
        }
    }
}
