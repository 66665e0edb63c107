// A port of the switch. Subclasses own the I/O (QEMU stream socket, TAP, AF_PACKET, VXLAN over UDP, or
// memory for tests); the datapath calls Transmit for every frame it sends out of the port and FlushTx
// once per batch, so ports can batch system calls. Transmit copies: the frame span is only valid
// during the call.
using Fabric.Switch.Datapath;
using Fabric.Switch.Packets;

namespace Fabric.Switch.Ports;

public abstract class SwitchPort : IDisposable
{
    protected SwitchPort(string name, PortKind kind)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a port needs a name", nameof(name));
        Name = name;
        Kind = kind;
    }

    public string Name { get; }
    public PortKind Kind { get; }
    /// <summary>Assigned by the datapath when the port is added (1..65534).</summary>
    public ushort Number { get; internal set; }
    /// <summary>Network name of a VM or access port (resolved to an id by the datapath).</summary>
    public string Network { get; init; } = "";
    /// <summary>The VM NIC's MAC (port security, and the MAC the port claims when active).</summary>
    public MacAddress Mac { get; init; }
    /// <summary>The VM NIC's IPv4 address, or 0 when it has none (then only the MAC is enforced).</summary>
    public uint Ipv4 { get; init; }
    /// <summary>Only active ports forward; a migration destination's port stays inactive until switch-over.</summary>
    public bool Active { get; internal set; } = true;
    public PortCounters Counters { get; } = new();
    /// <summary>Set by the datapath when a frame was queued since the last flush.</summary>
    internal bool TxPending;

    /// <summary>
    /// Queues one frame for sending with the given encapsulation. False when the queue is full.
    /// <paramref name="offload"/> is None unless the port <see cref="AcceptsOffload"/>: the datapath
    /// finishes checksums and segments GSO frames for ports that cannot take them.
    /// </summary>
    protected internal abstract bool Transmit(ReadOnlySpan<byte> frame, in OutputOp op, in OffloadInfo offload);

    /// <summary>True when the port can send frames with partial checksums and GSO state (a virtio-net header).</summary>
    protected internal virtual bool AcceptsOffload => false;

    /// <summary>Sends what Transmit queued. Called by the datapath after each batch.</summary>
    protected internal virtual void FlushTx() { }

    /// <summary>Descriptor the datapath loop polls for input, or -1 for a port fed by other means.</summary>
    protected internal virtual int PollFd => -1;

    /// <summary>Reads what is available and hands each frame to <paramref name="datapath"/>; called on the datapath thread.</summary>
    protected internal virtual void OnReadable(SwitchDatapath datapath) { }

    /// <summary>True while the port has queued bytes the OS refused: the loop then waits for writability.</summary>
    protected internal virtual bool WantsWritable => false;

    /// <summary>The descriptor became writable: send what is queued.</summary>
    protected internal virtual void OnWritable() { }

    /// <summary>Called on the datapath thread with the datapath's clock, for reconnects and retries.</summary>
    protected internal virtual void OnTimer(long now, long frequency) { }

    /// <summary>Short text for `fabric net show`: where the port goes ("unix:/run/vm1.sock connected").</summary>
    public virtual string Describe() => Kind.ToString().ToLowerInvariant();

    public virtual void Dispose() { GC.SuppressFinalize(this); }
}
