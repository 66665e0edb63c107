// The virtio-net header (struct virtio_net_hdr, 10 bytes, little-endian) that AF_PACKET (PACKET_VNET_HDR)
// and TAP (IFF_VNET_HDR) put in front of frames: it carries checksum and segmentation offload state, so a
// 64 KiB TCP super-frame crosses the switch as one frame instead of 45.
//   flags(1) gso_type(1) hdr_len(2) gso_size(2) csum_start(2) csum_offset(2)
// csum_start is relative to the start of the Ethernet frame.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public readonly record struct OffloadInfo(byte Flags, byte GsoType, ushort HdrLen, ushort GsoSize, ushort CsumStart, ushort CsumOffset)
{
    public const int HeaderLength = 10;
    public const byte FlagNeedsCsum = 1;
    public const byte FlagDataValid = 2;
    public const byte GsoNone = 0, GsoTcpV4 = 1, GsoUdp = 3, GsoTcpV6 = 4, GsoUdpL4 = 5, GsoEcn = 0x80;

    public static readonly OffloadInfo None = default;

    /// <summary>True when the frame is complete as it is (no checksum to finish, no segmentation).</summary>
    public bool IsNone => (Flags & FlagNeedsCsum) == 0 && (GsoType & 0x7F) == GsoNone;
    public bool NeedsChecksum => (Flags & FlagNeedsCsum) != 0;
    public bool IsGso => (GsoType & 0x7F) != GsoNone;

    public static OffloadInfo Read(ReadOnlySpan<byte> b) => new(
        b[0], b[1], BinaryPrimitives.ReadUInt16LittleEndian(b[2..]), BinaryPrimitives.ReadUInt16LittleEndian(b[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[8..]));

    public void Write(Span<byte> b)
    {
        b[0] = Flags;
        b[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], HdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], CsumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], CsumOffset);
    }

    /// <summary>The same offload state for the frame moved by <paramref name="delta"/> bytes (VLAN push +4, pop -4).</summary>
    public OffloadInfo Shift(int delta) => IsNone && HdrLen == 0
        ? this
        : this with
        {
            HdrLen = HdrLen == 0 ? (ushort)0 : (ushort)(HdrLen + delta),
            CsumStart = NeedsChecksum ? (ushort)(CsumStart + delta) : CsumStart,
        };
}
