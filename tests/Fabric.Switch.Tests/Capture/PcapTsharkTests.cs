// Our pcap files and our codec checked against a decoder nobody here wrote: tshark (Wireshark).
using Fabric.Switch.Capture;
using Fabric.Switch.Packets;
using Fabric.Switch.Tests.Packets;
using Fabric.Switch.Tests.Support;

namespace Fabric.Switch.Tests.Capture;

public class PcapTsharkTests
{
    [Fact]
    public void Pcap_writer_and_reader_round_trip()
    {
        var frames = CodecTests.SampleFrames();
        var ms = new MemoryStream();
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        using (var w = new PcapWriter(ms, ownsStream: false))
            for (int i = 0; i < frames.Count; i++) w.Write(t0.AddMilliseconds(i), frames[i]);
        var r = PcapReader.TryRead(ms.ToArray(), out var err);
        Assert.Null(err);
        Assert.Equal(PcapWriter.LinkTypeEthernet, r!.LinkType);
        Assert.Equal(frames.Count, r.Records.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(frames[i], r.Records[i].Data);
            Assert.Equal(t0.AddMilliseconds(i), r.Records[i].Timestamp);
        }
        Assert.Null(PcapReader.TryRead(ms.ToArray().AsSpan(0, (int)ms.Length - 1), out err));
        Assert.NotNull(err);
    }

    [MachineFact(Needs.Tshark)]
    public void Tshark_decodes_our_frames_as_our_codec_parses_them()
    {
        var frames = CodecTests.SampleFrames();
        var mac1 = MacAddress.Parse("02:00:00:00:00:01");
        var mac2 = MacAddress.Parse("02:00:00:00:00:02");
        // VXLAN-encapsulated copies of every sample: tshark must find the VNI and the same inner frame.
        foreach (var inner in frames.ToArray())
        {
            var b = new byte[600];
            int n = PacketBuilder.VxlanFrame(b, mac2, mac1, IpBits.ParseIpv4("172.31.0.1"), IpBits.ParseIpv4("172.31.0.2"),
                PacketBuilder.VxlanSourcePort(inner.Length), 5001 + (uint)inner.Length, inner);
            frames.Add(b[..n]);
        }
        var path = Path.Combine(Path.GetTempPath(), $"fabric-codec-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var w = new PcapWriter(File.Create(path)))
                foreach (var f in frames) w.Write(DateTimeOffset.UtcNow, f);
            var fields = TsharkFields.Read(path);
            Assert.Equal(frames.Count, fields.Count);
            for (int i = 0; i < frames.Count; i++)
                TsharkFields.AssertMatchesCodec(frames[i], fields[i]);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
