// Copy-with-encapsulation helpers used by every port's transmit path: the datapath never rewrites a frame
// in place for an output, because the same frame may go to several ports with different encapsulations.
using System.Buffers.Binary;

namespace Fabric.Switch.Packets;

public static class FrameEncap
{
    /// <summary>
    /// Copies <paramref name="frame"/> into <paramref name="destination"/> with an 802.1Q tag for
    /// <paramref name="vlan"/> after the MAC addresses. A frame that already carries a tag has it replaced,
    /// never stacked: the switch's networks are single-tagged. Returns the bytes written.
    /// </summary>
    public static int PushVlan(ReadOnlySpan<byte> frame, Span<byte> destination, ushort vlan)
    {
        bool tagged = frame.Length >= 16 && BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) == EtherType.Vlan;
        var rest = frame[(tagged ? 16 : 12)..];
        frame[..12].CopyTo(destination);
        VlanTag.Write(destination[12..], vlan);
        rest.CopyTo(destination[16..]);
        return 16 + rest.Length;
    }
}
