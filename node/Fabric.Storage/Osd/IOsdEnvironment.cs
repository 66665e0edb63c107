using Fabric.Client.Messaging;
using Fabric.Proto;
using Fabric.Storage.Store;
using Google.Protobuf;

namespace Fabric.Storage.Osd;

/// <summary>
/// Everything the OSD state machine (<see cref="OsdCore"/>) does to the outside world. The real node
/// implements it with TCP and RocksDB (<see cref="OsdHost"/>); the simulation with a simulated network
/// and disk on one thread. Every callback into the core (messages, commit completions, ticks) must be
/// delivered on the core's single thread.
/// </summary>
public interface IOsdEnvironment
{
    /// <summary>Monotonic milliseconds (simulated time in the simulation).</summary>
    long NowMs { get; }

    /// <summary>Sends to another OSD; may be lost (the core retransmits what matters).</summary>
    void SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data);

    /// <summary>Answers a client connection.</summary>
    void SendToClient(long connection, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data);

    /// <summary>Sends to another OSD with large data by reference (the real transport does not copy it);
    /// the callee takes its own reference when it keeps the buffer.</summary>
    void SendToOsd(int osd, StorageMessageType type, IMessage header, DataBuffer data) => SendToOsd(osd, type, header, data.Span);

    /// <summary>Answers a client connection with large data by reference.</summary>
    void SendToClient(long connection, StorageMessageType type, IMessage header, DataBuffer data) => SendToClient(connection, type, header, data.Span);

    /// <summary>Puts on the wire now what this event sent so far (the host corks an event's sends until its end): for
    /// messages whose latency matters more than batching, like the replicated ops a primary sends before its own apply.</summary>
    void FlushSends()
    {
    }

    /// <summary>Writes a batch (visible now); <paramref name="onDurable"/> runs on the core's thread once it is durable.</summary>
    void Commit(IStoreBatch batch, Action? onDurable);

    /// <summary>Tells the monitor that a peer stopped answering.</summary>
    void ReportFailure(int osd, string reason);
}
