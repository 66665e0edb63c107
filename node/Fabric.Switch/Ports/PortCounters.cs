// Per-port counters. Written only by the datapath thread; read by metrics and admin calls from other
// threads (64-bit reads of longs are atomic on the platforms we run on, so a reader sees each counter
// whole, if not all counters at one instant).
using Fabric.Switch.Flows;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public sealed class PortCounters
{
    public long RxPackets;
    public long RxBytes;
    public long TxPackets;
    public long TxBytes;
    public long DropPackets;
    public long DropBytes;
    public readonly long[] DropsByReason = new long[Enum.GetValues<DropReason>().Length];
    public readonly long[] MalformedByError = new long[Enum.GetValues<FrameError>().Length];

    public void Drop(DropReason reason, int bytes)
    {
        DropPackets++;
        DropBytes += bytes;
        DropsByReason[(int)reason]++;
    }

    public void Malformed(FrameError error, int bytes)
    {
        Drop(DropReason.Malformed, bytes);
        MalformedByError[(int)error]++;
    }
}
