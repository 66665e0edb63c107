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
/// malformed frame closes the connection.
/// </summary>
public sealed class FramedConnectionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Frames_of_every_size_arrive_whole_and_in_order_even_with_a_slow_receiver()
    {
        int[] sizes = [0, 1, 4096, 16383, 16384, 65535, FramedConnection.LargeFrameBytes, 300_000, 1 << 20, (4 << 20) + 7];
        var received = new List<(ulong Seq, byte[] Data)>();
        var all = new TaskCompletionSource();
        int expected = sizes.Length * 6;
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Task<Socket> accepted = listener.AcceptAsync();
        FramedConnection client = FramedConnection.Connect(listener.LocalEndPoint!, (_, _, _, _) => { }, _ => { });
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
        }, _ => all.TrySetException(new IOException("closed")));

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

    [Fact]
    public async Task A_malformed_frame_closes_the_connection()
    {
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(listener.LocalEndPoint!);
        var closed = new TaskCompletionSource();
        FramedConnection server = FramedConnection.Accept(await listener.AcceptAsync(), (_, _, _, _) => { }, _ => closed.TrySetResult());
        // A length beyond the frame limit.
        await raw.SendAsync(new byte[] { 0xFF, 0xFF, 0xFF, 0x7F, 1, 0, 0, 0, 0 });
        await closed.Task.WaitAsync(Deadline);
        Assert.True(server.IsClosed);
    }
}
