using System.Net;
using System.Net.Sockets;
using Fabric.Client.Messaging;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Client.Tests.Messaging;

/// <summary>
/// The storage transport over real loopback TCP: frames of every size (small ones copied, large ones sent
/// by reference and received into their own buffer) arrive complete and in order, also from several
/// senders at once and when the receiver is slow (the send side then finishes asynchronously); a
/// malformed frame closes the connection. Each runs with the three receivers: async (clients), a dedicated
/// receiver thread, and polled on the owner's thread (a <see cref="FramePoller"/>: the OSD's event loop).
/// </summary>
public sealed class FramedConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("async")]
    [InlineData("thread")]
    [InlineData("polled")]
    public async Task Frames_of_every_size_arrive_whole_and_in_order_even_with_a_slow_receiver(string mode)
    {
        using var poll = new PollerThread();
        bool dedicatedReceiver = mode == "thread";
        FramePoller? poller = mode == "polled" ? poll.Poller : null;
        int[] sizes = [0, 1, 4096, 16383, 16384, 65535, FramedConnection.LargeFrameBytes, 300_000, 1 << 20, (4 << 20) + 7];
        var received = new List<(ulong Seq, byte[] Data)>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int expected = sizes.Length * 6;
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, _, _) => { }, _ => { }, dedicatedReceiver, poller);
        FramedConnection server = FramedConnection.Accept(await accepted, (_, type, header, data) =>
        {
            Assert.Equal(StorageMessageType.MsgPing, type);
            // A slow consumer: the sender's socket buffer fills up and it continues asynchronously.
            if (data.Length > (1 << 20))
            {
                Thread.Sleep(20);
            }
            lock (received)
            {
                received.Add((((Ping)header).Nonce, data.Span.ToArray()));
                if (received.Count == expected)
                {
                    all.TrySetResult();
                }
            }
        }, _ => all.TrySetException(new IOException("closed")), dedicatedReceiver, poller);

        // Three senders at once, each in its own order of sizes, mixing copied and by-reference data.
        ulong next = 0;
        var sent = new Dictionary<ulong, byte[]>();
        var senders = Enumerable.Range(0, 3).Select(s => Task.Run(() =>
        {
            foreach (int size in s % 2 == 0 ? sizes : sizes.Reverse())
            {
                for (int copy = 0; copy < 2; copy++)
                {
                    byte[] data = new byte[size];
                    new Random(size + copy + 17 * s).NextBytes(data);
                    ulong seq;
                    lock (sent)
                    {
                        seq = next++;
                        sent[seq] = data;
                        // Sequence numbers are taken and frames queued under one lock: per-connection order.
                        if (copy == 0)
                        {
                            Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = seq }, data));
                        }
                        else
                        {
                            DataBuffer buffer = DataBuffer.CopyOf(data);
                            Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = seq }, buffer));
                            buffer.Release(); // the connection holds its own reference until sent
                        }
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(senders);
        await all.Task.WaitAsync(Deadline);
        Assert.Equal(Enumerable.Range(0, expected).Select(i => (ulong)i), received.Select(r => r.Seq));
        foreach ((ulong seq, byte[] data) in received)
        {
            Assert.True(data.AsSpan().SequenceEqual(sent[seq]), $"frame {seq} ({sent[seq].Length} bytes) arrived changed");
        }
        client.Close();
        server.Close();
    }

    /// <summary>A destination a test hands out for a frame's data, recording how it completed.</summary>
    private sealed class TestTarget(ulong seq, int length, List<(ulong Seq, byte[] Data, string How)> log) : IPayloadTarget
    {
        public byte[] Buffer { get; } = new byte[length];

        public int Completions;

        public Memory<byte> Destination => Buffer;

        public void Complete(bool received)
        {
            Interlocked.Increment(ref Completions);
            lock (log)
            {
                log.Add((seq, Buffer, received ? "target" : "abandoned"));
            }
        }
    }

    [Theory]
    [InlineData("async")]
    [InlineData("polled")]
    public async Task A_sink_receives_large_frames_straight_into_its_destinations_in_order_with_the_others(string mode)
    {
        using var poll = new PollerThread();
        FramePoller? poller = mode == "polled" ? poll.Poller : null;
        int[] sizes = [100, FramedConnection.LargeFrameBytes, 300_000, 4096, (4 << 20) + 7, 1 << 20, 70_000];
        var log = new List<(ulong Seq, byte[] Data, string How)>();
        var asked = new List<(ulong Seq, int Length)>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int expected = sizes.Length * 2;
        void Arrived()
        {
            if (log.Count == expected)
            {
                all.TrySetResult();
            }
        }
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, header, data) =>
        {
            lock (log)
            {
                log.Add((((Ping)header).Nonce, data.Span.ToArray(), "message"));
                Arrived();
            }
        }, _ => all.TrySetException(new IOException("closed")), poller: poller, sink: (_, type, header, length) =>
        {
            ulong seq = ((Ping)header).Nonce;
            lock (log)
            {
                asked.Add((seq, length));
            }
            // Odd frames go to a destination of their own, even ones the usual way.
            return seq % 2 == 1 ? new CompletingTarget(seq, length, log, Arrived) : null;
        });
        FramedConnection server = FramedConnection.Accept(await accepted, (_, _, _, _) => { }, _ => { });
        var sent = new List<byte[]>();
        for (int i = 0; i < expected; i++)
        {
            byte[] data = new byte[sizes[i % sizes.Length]];
            new Random(i).NextBytes(data);
            sent.Add(data);
            Assert.True(server.Send(StorageMessageType.MsgPing, new Ping { Nonce = (ulong)i }, data));
        }
        await all.Task.WaitAsync(Deadline);
        Assert.Equal(Enumerable.Range(0, expected).Select(i => (ulong)i), log.Select(l => l.Seq));
        foreach ((ulong seq, byte[] data, string how) in log)
        {
            Assert.True(data.AsSpan().SequenceEqual(sent[(int)seq]), $"frame {seq} ({sent[(int)seq].Length} bytes, {how}) arrived changed");
            // Only large frames are offered to the sink; the odd ones among them took its destination.
            bool large = sent[(int)seq].Length >= FramedConnection.LargeFrameBytes;
            Assert.Equal(large && seq % 2 == 1 ? "target" : "message", how);
        }
        Assert.All(asked, a => Assert.True(sent[(int)a.Seq].Length >= FramedConnection.LargeFrameBytes && a.Length == sent[(int)a.Seq].Length));
        client.Close();
        server.Close();
    }

    private sealed class CompletingTarget(ulong seq, int length, List<(ulong Seq, byte[] Data, string How)> log, Action arrived) : IPayloadTarget
    {
        private readonly byte[] _buffer = new byte[length];

        public Memory<byte> Destination => _buffer;

        public void Complete(bool received)
        {
            lock (log)
            {
                log.Add((seq, _buffer, received ? "target" : "abandoned"));
                arrived();
            }
        }
    }

    [Fact]
    public async Task A_connection_that_ends_inside_a_frame_s_data_abandons_the_target_once_before_it_closes()
    {
        var log = new List<(ulong Seq, byte[] Data, string How)>();
        TestTarget? target = null;
        var closed = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, _, _) => { },
            _ => closed.TrySetResult(log.Count), sink: (_, _, header, length) => target = new TestTarget(((Ping)header).Nonce, length, log));
        using Socket raw = await accepted;
        // The prefix, the header and 100 KiB of a 1 MiB frame's data, then the end of the stream.
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        FrameCodec.WritePrefix(writer, StorageMessageType.MsgPing, new Ping { Nonce = 9 }, 1 << 20);
        await raw.SendAsync(writer.WrittenMemory);
        await raw.SendAsync(new byte[100 << 10]);
        raw.Shutdown(SocketShutdown.Both);
        Assert.Equal(1, await closed.Task.WaitAsync(Deadline)); // abandoned before the close was reported
        Assert.NotNull(target);
        Assert.Equal(1, target!.Completions);
        Assert.Equal((9UL, "abandoned"), (log[0].Seq, log[0].How));
        client.Close();
    }

    [Theory]
    [InlineData("async")]
    [InlineData("thread")]
    [InlineData("polled")]
    public async Task A_malformed_frame_closes_the_connection(string mode)
    {
        using var poll = new PollerThread();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (Socket raw, FramedConnection server) = await RawPeerAndServer(_ => closed.TrySetResult(), mode == "thread", mode == "polled" ? poll.Poller : null);
        using Socket rawPeer = raw;
        // A length beyond the frame limit.
        await raw.SendAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0x7F, 1, 0, 0, 0, 0 });
        await closed.Task.WaitAsync(Deadline);
        Assert.True(server.IsClosed);
    }

    [Fact]
    public async Task Closing_a_connection_ends_its_receiver_thread_and_the_peer_sees_the_end()
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        (Socket raw, FramedConnection server) = await RawPeerAndServer(_ => closed.TrySetResult(), dedicatedReceiver: true);
        using Socket rawPeer = raw;
        string thread = $"frames-rx.{server.Id}";
        await WaitUntil(() => ThreadNames().Contains(thread), "the receiver thread to start");

        // Idle (blocked in poll) when closed from this side: the thread must end, not wait for data.
        server.Close();
        await closed.Task.WaitAsync(Deadline);
        await WaitUntil(() => !ThreadNames().Contains(thread), "the receiver thread to end");
        byte[] one = new byte[1];
        Assert.Equal(0, await raw.ReceiveAsync(one, SocketFlags.None).WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_polled_connection_is_received_on_the_polling_thread_in_bounded_turns_and_leaves_the_poller_when_closed()
    {
        using var poller = new FramePoller();
        var threads = new HashSet<int>();
        int frames = 0;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(listener.LocalEndPoint!);
        using Socket rawPeer = raw;
        FramedConnection server = FramedConnection.Accept(await listener.AcceptAsync(), (_, _, _, _) =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            frames++;
        }, _ => closed.TrySetResult(), poller: poller);
        Assert.Equal(1, poller.Count);

        // 20,000 small frames in one burst (2.2 MB): a turn is bounded (64 reads' worth of frames, or 8 MiB), so
        // the first poll delivers some of them, not all, and later polls deliver the rest in order.
        const int count = 20_000;
        var burst = new System.Buffers.ArrayBufferWriter<byte>();
        for (int i = 0; i < count; i++)
        {
            FrameCodec.Write(burst, StorageMessageType.MsgPing, new Ping { Nonce = (ulong)i }, new byte[100]);
        }
        Task sending = raw.SendAsync(burst.WrittenMemory).AsTask();
        DateTime deadline = DateTime.UtcNow + Deadline;
        int afterFirst = -1;
        while (frames < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {frames} of {count} frames arrived");
            if (poller.Poll(timeoutMs: 100) > 0 && afterFirst < 0)
            {
                afterFirst = frames;
            }
        }
        await sending;
        Assert.InRange(afterFirst, 1, count - 1);
        Assert.Equal([Environment.CurrentManagedThreadId], threads);

        // Closed by the peer: the next poll sees the end, the connection closes and leaves the poller.
        raw.Shutdown(SocketShutdown.Both);
        while (!server.IsClosed)
        {
            Assert.True(DateTime.UtcNow < deadline, "the peer's end was not seen");
            poller.Poll(timeoutMs: 100);
        }
        await closed.Task.WaitAsync(Deadline);
        Assert.Equal(0, poller.Count);
    }

    [Fact]
    public async Task Wake_makes_a_blocked_poll_return()
    {
        using var poller = new FramePoller();
        Task<int> blocked = Task.Factory.StartNew(() => poller.Poll(timeoutMs: -1), TaskCreationOptions.LongRunning);
        await Task.Delay(50);
        Assert.False(blocked.IsCompleted);
        poller.Wake();
        Assert.Equal(0, await blocked.WaitAsync(Deadline));
    }

    /// <summary>A client connection to a plain socket (the peer reads raw bytes), connected: one frame has crossed.</summary>
    private static async Task<(FramedConnection Client, Socket Raw, Socket Listener)> RawPeerAsync()
    {
        var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, _, _) => { }, _ => { });
        Socket raw = await accepted.WaitAsync(Deadline);
        Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 0 }, ReadOnlySpan<byte>.Empty));
        Assert.Equal([0UL], ReadPings(raw, 1));
        return (client, raw, listener);
    }

    /// <summary>Reads <paramref name="count"/> whole Ping frames off a raw socket (blocking, with the test's deadline).</summary>
    private static List<ulong> ReadPings(Socket raw, int count)
    {
        raw.ReceiveTimeout = (int)Deadline.TotalMilliseconds;
        var nonces = new List<ulong>();
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        while (nonces.Count < count)
        {
            int length = buffer.Count >= 4 ? FrameCodec.PeekFrameLength(buffer.ToArray()) : -1;
            if (length > 0 && buffer.Count >= length)
            {
                Assert.True(FrameCodec.TrySplit(buffer.GetRange(0, length).ToArray(), out StorageMessageType type, out ReadOnlySpan<byte> header, out _));
                Assert.Equal(StorageMessageType.MsgPing, type);
                nonces.Add(Ping.Parser.ParseFrom(header.ToArray()).Nonce);
                buffer.RemoveRange(0, length);
                continue;
            }
            int got = raw.Receive(chunk);
            Assert.True(got > 0, "the connection ended");
            buffer.AddRange(chunk.AsSpan(0, got).ToArray());
        }
        Assert.Empty(buffer);
        return nonces;
    }

    [Fact]
    public async Task Corked_sends_leave_together_when_the_outermost_scope_ends()
    {
        var (client, raw, listener) = await RawPeerAsync();
        using (listener)
        using (raw)
        {
            using (FramedConnection.Cork())
            {
                Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 1 }, ReadOnlySpan<byte>.Empty));
                Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 2 }, new byte[100]));
                using (FramedConnection.Cork())
                {
                    Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 3 }, DataBuffer.CopyOf(new byte[20_000])));
                }
                // Nothing was written to the socket: a loopback send would be readable at the peer already.
                Assert.Equal(0, raw.Available);
            }
            Assert.Equal([1UL, 2UL, 3UL], ReadPings(raw, 3));
            // FlushCorked sends what waits without ending the scope; what is sent after it waits again.
            using (FramedConnection.Cork())
            {
                Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 5 }, ReadOnlySpan<byte>.Empty));
                FramedConnection.FlushCorked();
                Assert.Equal([5UL], ReadPings(raw, 1));
                Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 6 }, ReadOnlySpan<byte>.Empty));
                Assert.Equal(0, raw.Available);
            }
            Assert.Equal([6UL], ReadPings(raw, 1));
            // Uncorked again: a send goes at once.
            Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 4 }, ReadOnlySpan<byte>.Empty));
            Assert.Equal([4UL], ReadPings(raw, 1));
            client.Close();
        }
    }

    [Fact]
    public async Task A_send_from_a_thread_that_does_not_cork_takes_the_corked_frames_along_in_order()
    {
        var (client, raw, listener) = await RawPeerAsync();
        using (listener)
        using (raw)
        {
            using (FramedConnection.Cork())
            {
                Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 1 }, ReadOnlySpan<byte>.Empty));
                // Another thread, joined (not awaited): a cork belongs to its thread, so its scope must not span an await.
                bool sent = false;
                var other = new Thread(() => sent = client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 2 }, ReadOnlySpan<byte>.Empty));
                other.Start();
                Assert.True(other.Join(Deadline) && sent);
                Assert.Equal([1UL, 2UL], ReadPings(raw, 2));
            }
            Assert.True(client.Send(StorageMessageType.MsgPing, new Ping { Nonce = 3 }, ReadOnlySpan<byte>.Empty));
            Assert.Equal([3UL], ReadPings(raw, 1)); // The scope's end sent nothing twice.
            client.Close();
        }
    }

    /// <summary>A thread that polls a <see cref="FramePoller"/> until disposed, as the OSD's event loop does.</summary>
    private sealed class PollerThread : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;

        public PollerThread()
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    Poller.Poll(timeoutMs: -1);
                }
            }) { IsBackground = true, Name = "test-poller" };
            _thread.Start();
        }

        public FramePoller Poller { get; } = new();

        public void Dispose()
        {
            Assert.NotEqual(_thread, Thread.CurrentThread); // a callback must not dispose the thread it runs on
            _stop = true;
            Poller.Wake();
            _thread.Join();
            Poller.Dispose();
        }
    }

    /// <summary>A plain socket connected to a FramedConnection that accepted it.</summary>
    private static async Task<(Socket Raw, FramedConnection Server)> RawPeerAndServer(Action<FramedConnection> onClosed, bool dedicatedReceiver,
        FramePoller? poller = null)
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(listener.LocalEndPoint!);
        FramedConnection server = FramedConnection.Accept(await listener.AcceptAsync(), (_, _, _, _) => { }, onClosed, dedicatedReceiver, poller);
        return (raw, server);
    }

    /// <summary>This process's thread names (Linux: /proc/self/task/*/comm, at most 15 characters).</summary>
    private static HashSet<string> ThreadNames() =>
        Directory.GetDirectories("/proc/self/task")
            .Select(task =>
            {
                try
                {
                    return File.ReadAllText(Path.Combine(task, "comm")).Trim();
                }
                catch (IOException)
                {
                    return ""; // The thread ended meanwhile.
                }
            })
            .ToHashSet();

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
