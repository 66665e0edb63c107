using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>
/// A minimal NBD client written from the protocol text for the tests: it can do the handshake properly,
/// or send whatever bytes a test wants (bad magic, oversized requests) to check the server's reaction.
/// </summary>
public sealed class RawNbdClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private ulong _cookie;

    private RawNbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public long ExportSize { get; private set; }

    public ushort TransmissionFlags { get; private set; }

    public static async Task<RawNbdClient> ConnectUnixAsync(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        return new RawNbdClient(socket);
    }

    public NetworkStream Stream => _stream;

    /// <summary>Reads the server greeting and sends the client flags.</summary>
    public async Task GreetAsync(uint clientFlags = 3)
    {
        var greeting = new byte[18];
        await _stream.ReadExactlyAsync(greeting);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != 0x4e42444d41474943)
        {
            throw new InvalidDataException("no NBDMAGIC");
        }
        var flags = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flags, clientFlags);
        await _stream.WriteAsync(flags);
    }

    public async Task SendOptionAsync(uint option, byte[] data, ulong magic = 0x49484156454F5054)
    {
        var header = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(header, magic);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), (uint)data.Length);
        data.CopyTo(header, 16);
        await _stream.WriteAsync(header);
    }

    public async Task<(uint Type, byte[] Data)> ReadOptionReplyAsync()
    {
        var header = new byte[20];
        await _stream.ReadExactlyAsync(header);
        uint type = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        var data = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16))];
        await _stream.ReadExactlyAsync(data);
        return (type, data);
    }

    /// <summary>NBD_OPT_GO; returns null on success or the error reply's text.</summary>
    public async Task<string?> GoAsync(string export)
    {
        var name = Encoding.UTF8.GetBytes(export);
        var data = new byte[4 + name.Length + 2];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        await SendOptionAsync(7, data);
        while (true)
        {
            var (type, payload) = await ReadOptionReplyAsync();
            if (type == 1)
            {
                return null;
            }
            if ((type & 0x80000000) != 0)
            {
                return $"error 0x{type:x8}: {Encoding.UTF8.GetString(payload)}";
            }
            if (type == 3 && BinaryPrimitives.ReadUInt16BigEndian(payload) == 0)
            {
                ExportSize = (long)BinaryPrimitives.ReadUInt64BigEndian(payload.AsSpan(2));
                TransmissionFlags = BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(10));
            }
        }
    }

    public static async Task<RawNbdClient> OpenAsync(string socketPath, string export)
    {
        var client = await ConnectUnixAsync(socketPath);
        await client.GreetAsync();
        var error = await client.GoAsync(export);
        if (error is not null)
        {
            await client.DisposeAsync();
            throw new InvalidOperationException(error);
        }
        return client;
    }

    public async Task SendRequestAsync(ushort type, ulong offset, uint length, ReadOnlyMemory<byte> payload = default, ushort flags = 0, uint magic = 0x25609513)
    {
        var header = new byte[28];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), ++_cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), offset);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), length);
        await _stream.WriteAsync(header);
        if (!payload.IsEmpty)
        {
            await _stream.WriteAsync(payload);
        }
    }

    /// <summary>Reads one simple reply; returns (errno, cookie).</summary>
    public async Task<(uint Error, ulong Cookie)> ReadReplyAsync(Memory<byte> data = default)
    {
        var header = new byte[16];
        await _stream.ReadExactlyAsync(header);
        if (BinaryPrimitives.ReadUInt32BigEndian(header) != 0x67446698)
        {
            throw new InvalidDataException("bad reply magic");
        }
        uint error = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
        if (error == 0 && !data.IsEmpty)
        {
            await _stream.ReadExactlyAsync(data);
        }
        return (error, BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
    }

    public async Task<uint> WriteAsync(long offset, byte[] data, bool fua = false)
    {
        await SendRequestAsync(1, (ulong)offset, (uint)data.Length, data, fua ? (ushort)1 : (ushort)0);
        return (await ReadReplyAsync()).Error;
    }

    public async Task<(uint Error, byte[] Data)> ReadAsync(long offset, int length)
    {
        var data = new byte[length];
        await SendRequestAsync(0, (ulong)offset, (uint)length);
        var (error, _) = await ReadReplyAsync(data);
        return (error, data);
    }

    public async Task<uint> FlushAsync()
    {
        await SendRequestAsync(3, 0, 0);
        return (await ReadReplyAsync()).Error;
    }

    /// <summary>True when the server closed the connection (reads EOF) within the deadline.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = await _stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
    }
}
