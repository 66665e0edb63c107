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
/// malformed frame closes the connection. Each runs with the async receiver and with the dedicated
/// receiver thread the OSD uses.
/// </summary>
public sealed class FramedConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Frames_of_every_size_arrive_whole_and_in_order_even_with_a_slow_receiver(bool dedicatedReceiver)
    {
        int[] sizes = [0, 1, 4096, 16383, 16384, 65535, FramedConnection.LargeFrameBytes, 300_000, 1 << 20, (4 << 20) + 7];
        var received = new List<(ulong Seq, byte[] Data)>();
        var all = new TaskCompletionSource();
        int expected = sizes.Length * 6;
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, _, _) => { }, _ => { }, dedicatedReceiver);
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
        }, _ => all.TrySetException(new IOException("closed")), dedicatedReceiver);

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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_malformed_frame_closes_the_connection(bool dedicatedReceiver)
    {
        var closed = new TaskCompletionSource();
        (Socket raw, FramedConnection server) = await RawPeerAndServer(_ => closed.TrySetResult(), dedicatedReceiver);
        using Socket rawPeer = raw;
        // A length beyond the frame limit.
        await raw.SendAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0x7F, 1, 0, 0, 0, 0 });
        await closed.Task.WaitAsync(Deadline);
        Assert.True(server.IsClosed);
    }

    [Fact]
    public async Task Closing_a_connection_ends_its_receiver_thread_and_the_peer_sees_the_end()
    {
        var closed = new TaskCompletionSource();
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

    /// <summary>A plain socket connected to a FramedConnection that accepted it.</summary>
    private static async Task<(Socket Raw, FramedConnection Server)> RawPeerAndServer(Action<FramedConnection> onClosed, bool dedicatedReceiver)
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(listener.LocalEndPoint!);
        FramedConnection server = FramedConnection.Accept(await listener.AcceptAsync(), (_, _, _, _) => { }, onClosed, dedicatedReceiver);
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
