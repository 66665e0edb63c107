// Live captures (`fabric net capture NET [--port P]`): the datapath offers each frame it forwards, as
// the network sees it (untagged, decapsulated), to the capture sessions that want it. A session is a
// bounded queue: when its reader falls behind, frames are counted as dropped, and the datapath never
// waits. Buffers come from the shared ArrayPool, so an active capture allocates nothing per frame in
// steady state either.
using System.Buffers;
using System.Threading.Channels;
using Fabric.Switch.Datapath;

namespace Fabric.Switch.Capture;

public readonly record struct CapturedFrame(DateTimeOffset Timestamp, byte[] Buffer, int Length, ushort InPort);

public sealed class CaptureSession
{
    private readonly Channel<CapturedFrame> _channel;
    private long _remaining;

    internal CaptureSession(int network, ushort port, long count, int queueFrames)
    {
        Network = network;
        Port = port;
        _remaining = count <= 0 ? long.MaxValue : count;
        _channel = Channel.CreateBounded<CapturedFrame>(new BoundedChannelOptions(queueFrames)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
    }

    public int Network { get; }
    public ushort Port { get; }
    public long Captured;
    public long Dropped;
    public ChannelReader<CapturedFrame> Reader => _channel.Reader;

    internal void Offer(DateTimeOffset now, ushort inPort, ReadOnlySpan<byte> frame)
    {
        if (_remaining <= 0) return;
        var buf = ArrayPool<byte>.Shared.Rent(frame.Length);
        frame.CopyTo(buf);
        if (_channel.Writer.TryWrite(new CapturedFrame(now, buf, frame.Length, inPort)))
        {
            Captured++;
            if (--_remaining == 0) _channel.Writer.TryComplete();
        }
        else
        {
            Dropped++;
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    internal void Complete() => _channel.Writer.TryComplete();
}

public sealed class CaptureHub
{
    private volatile CaptureSession[] _sessions = [];
    private readonly object _gate = new();

    public bool Active => _sessions.Length > 0;

    /// <summary>Starts capturing frames of <paramref name="network"/> (on <paramref name="port"/> only, when not 0).</summary>
    public CaptureSession Start(int network, ushort port, long count, int queueFrames = 4096)
    {
        var s = new CaptureSession(network, port, count, queueFrames);
        lock (_gate) _sessions = [.. _sessions, s];
        return s;
    }

    public void Stop(CaptureSession session)
    {
        lock (_gate) _sessions = _sessions.Where(s => !ReferenceEquals(s, session)).ToArray();
        session.Complete();
    }

    internal void Offer(ForwardingDecision d, ushort inPort, ReadOnlySpan<byte> frame, TimeProvider time)
    {
        var sessions = _sessions;
        DateTimeOffset now = default;
        foreach (var s in sessions)
        {
            if (s.Network != d.Network) continue;
            if (s.Port != 0 && s.Port != inPort && !SendsTo(d, s.Port)) continue;
            if (now == default) now = time.GetUtcNow();
            s.Offer(now, inPort, frame);
        }
    }

    private static bool SendsTo(ForwardingDecision d, ushort port)
    {
        foreach (var o in d.Outputs) if (o.Port == port) return true;
        return d.ArpReplyMac != 0 && d.ArpReplyOp.Port == port;
    }
}
