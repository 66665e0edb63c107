// Reads classic pcap files (either byte order, microsecond or nanosecond magic): captures read back in
// tests, and `fabric net capture` output checked before it is handed on.
using System.Buffers.Binary;

namespace Fabric.Switch.Capture;

public sealed class PcapReader
{
    public readonly record struct Record(DateTimeOffset Timestamp, int OriginalLength, byte[] Data);

    public uint LinkType { get; private init; }
    public int SnapLength { get; private init; }
    public IReadOnlyList<Record> Records { get; private init; } = [];

    /// <summary>Parses a whole file. Returns null with <paramref name="error"/> set when it is not a pcap file or is cut short.</summary>
    public static PcapReader? TryRead(ReadOnlySpan<byte> file, out string? error)
    {
        error = null;
        if (file.Length < PcapWriter.GlobalHeaderLength) { error = "shorter than a pcap header"; return null; }
        uint magicLe = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool little, nanos;
        switch (magicLe)
        {
            case 0xA1B2C3D4: little = true; nanos = false; break;
            case 0xA1B23C4D: little = true; nanos = true; break;
            case 0xD4C3B2A1: little = false; nanos = false; break;
            case 0x4D3CB2A1: little = false; nanos = true; break;
            default: error = $"bad magic 0x{magicLe:x8}"; return null;
        }
        uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);
        var records = new List<Record>();
        int o = PcapWriter.GlobalHeaderLength;
        while (o < file.Length)
        {
            if (o + PcapWriter.RecordHeaderLength > file.Length) { error = $"record header cut short at offset {o}"; return null; }
            long sec = U32(file[o..]), frac = U32(file[(o + 4)..]);
            int incl = (int)U32(file[(o + 8)..]), orig = (int)U32(file[(o + 12)..]);
            o += PcapWriter.RecordHeaderLength;
            if (incl < 0 || o + incl > file.Length) { error = $"record data cut short at offset {o}"; return null; }
            long ticks = nanos ? frac / 100 : frac * 10;
            records.Add(new Record(DateTimeOffset.FromUnixTimeSeconds(sec).AddTicks(ticks), orig, file.Slice(o, incl).ToArray()));
            o += incl;
        }
        return new PcapReader
        {
            LinkType = U32(file[20..]),
            SnapLength = (int)U32(file[16..]),
            Records = records,
        };
    }
}
