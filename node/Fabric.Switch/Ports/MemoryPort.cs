// A port without I/O: frames sent to it are kept in memory (or only counted). For tests, the pipeline
// benchmark, and `fabric net trace`-style experiments. It applies the encapsulation an output asks for,
// so what it records is what a real port would put on the wire (VXLAN: the UDP payload).
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed class MemoryPort : SwitchPort
{
    public readonly record struct Sent(OutputOp Op, byte[] Frame);

    private readonly bool _record;

    public MemoryPort(string name, PortKind kind, bool record = true) : base(name, kind) { _record = record; }

    public List<Sent> Received { get; } = new();
    public long Flushes;
    /// <summary>When set, Transmit refuses frames (a full queue).</summary>
    public bool Full { get; set; }

    protected internal override bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload)
    {
        if (Full) return false;
        if (!_record) return true;
        Received.Add(new Sent(op, Encapsulate(frame, op)));
        return true;
    }

    protected internal override void FlushTx() => Flushes++;

    /// <summary>The bytes a port puts on its medium for <paramref name="frame"/> sent with <paramref name="op"/>.</summary>
    public static byte[] Encapsulate(ReadOnlySpan<byte> frame, in OutputOp op)
    {
        switch (op.Encap)
        {
            case OutputEncap.Vlan:
            {
                var b = new byte[frame.Length + VlanTag.Length];
                int n = FrameEncap.PushVlan(frame, b, op.Vlan);
                return b[..n];
            }
            case OutputEncap.Vxlan:
            {
                var b = new byte[frame.Length + VxlanHeader.Length];
                VxlanHeader.Write(b, op.Vni);
                frame.CopyTo(b.AsSpan(VxlanHeader.Length));
                return b;
            }
            default:
                return frame.ToArray();
        }
    }
}
