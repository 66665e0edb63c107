// IPv4 header (RFC 791): ver/ihl tos totlen id flags/frag ttl proto csum src dst [options].
// The view's Payload ends at Total Length, not at the end of the frame: Ethernet pads short frames.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly ref struct Ipv4Packet
{
    public const int MinHeaderLength = 20;
    private readonly Span<byte> _b;

    private Ipv4Packet(Span<byte> b) { _b = b; }

    /// <summary>Checks version, header length and total length against the bytes present.</summary>
    public static FrameError TryParse(Span<byte> bytes, out Ipv4Packet ip)
    {
        ip = new Ipv4Packet(bytes);
        if (bytes.Length < MinHeaderLength) return FrameError.Ipv4Truncated;
        int ihl = (bytes[0] & 0x0F) * 4;
        if (bytes[0] >> 4 != 4 || ihl < MinHeaderLength) return FrameError.Ipv4BadHeader;
        int total = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        if (total < ihl) return FrameError.Ipv4BadHeader;
        if (total > bytes.Length || ihl > bytes.Length) return FrameError.Ipv4Truncated;
        ip = new Ipv4Packet(bytes[..total]);
        return FrameError.None;
    }

    public Span<byte> Bytes => _b;
    public int HeaderLength => (_b[0] & 0x0F) * 4;
    public byte Tos => _b[1];
    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_b[2..]);
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_b[4..]);
    public bool DontFragment => (_b[6] & 0x40) != 0;
    public bool MoreFragments => (_b[6] & 0x20) != 0;
    /// <summary>In 8-byte units. A non-zero offset means the payload has no L4 header.</summary>
    public ushort FragmentOffset => (ushort)(BinaryPrimitives.ReadUInt16BigEndian(_b[6..]) & 0x1FFF);
    public byte Ttl { get => _b[8]; set => _b[8] = value; }
    public byte Protocol => _b[9];
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_b[10..]);
    public uint Source { get => BinaryPrimitives.ReadUInt32BigEndian(_b[12..]); set => BinaryPrimitives.WriteUInt32BigEndian(_b[12..], value); }
    public uint Destination { get => BinaryPrimitives.ReadUInt32BigEndian(_b[16..]); set => BinaryPrimitives.WriteUInt32BigEndian(_b[16..], value); }
    public Span<byte> Payload => _b[HeaderLength..];

    public bool IsHeaderChecksumValid => InternetChecksum.Compute(_b[..HeaderLength]) == 0;

    public void UpdateHeaderChecksum()
    {
        BinaryPrimitives.WriteUInt16BigEndian(_b[10..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(_b[10..], InternetChecksum.Compute(_b[..HeaderLength]));
    }

    /// <summary>Writes a 20-byte header (no options) and its checksum.</summary>
    public static void WriteHeader(Span<byte> b, int totalLength, byte protocol, uint source, uint destination,
        ushort identification = 0, byte ttl = 64, bool dontFragment = true, byte tos = 0)
    {
        b[0] = 0x45;
        b[1] = tos;
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], identification);
        BinaryPrimitives.WriteUInt16BigEndian(b[6..], dontFragment ? (ushort)0x4000 : (ushort)0);
        b[8] = ttl;
        b[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(b[16..], destination);
        BinaryPrimitives.WriteUInt16BigEndian(b[10..], InternetChecksum.Compute(b[..MinHeaderLength]));
    }
}
