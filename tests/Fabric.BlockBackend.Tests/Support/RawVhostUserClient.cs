using System.Buffers.Binary;
using Fabric.BlockBackend.Native;
using Fabric.BlockBackend.VhostUser;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>
/// A vhost-user front-end written for the tests (what QEMU does, minus the guest): guest memory is a memfd
/// mapped here too, rings are laid out by hand, and requests are virtio-blk chains built byte by byte. It
/// can send well-formed sequences or deliberately broken ones.
/// </summary>
public sealed unsafe class RawVhostUserClient : IDisposable
{
    public const ulong MemoryBytes = 16 << 20;
    public const ulong UvaBase = 0x7f00_0000_0000;
    public const int QueueSize = 64;
    private const ulong QueueStride = 0x4000;   // per queue: desc @0, avail @0x1000, used @0x2000
    private const ulong DataBase = 0x100000;    // request buffers from 1 MiB on

    private readonly UnixFdChannel _channel;
    private readonly int _memFd;
    private readonly nint _mem;
    private readonly int[] _kick;
    private readonly int[] _call;
    private readonly ushort[] _availIdx;
    private readonly ushort[] _nextDesc;
    private ulong _nextData = DataBase;

    public RawVhostUserClient(string socketPath, int queues = 1) : this(socketPath, queues, null)
    {
    }

    private RawVhostUserClient(string socketPath, int queues, Survivor? survivor)
    {
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        Span<byte> address = stackalloc byte[110];
        Assert.True(Libc.TryFillUnixAddress(socketPath, address, out uint length));
        fixed (byte* a = address)
        {
            Assert.Equal(0, Libc.Connect(fd, a, length));
        }
        _channel = new UnixFdChannel(fd);
        if (survivor is not null)
        {
            _memFd = survivor.MemFd;
            _mem = survivor.Mem;
            _availIdx = survivor.AvailIdx;
            _nextDesc = survivor.NextDesc;
            _nextData = survivor.NextData;
            InflightFd = survivor.InflightFd;
            InflightSize = survivor.InflightSize;
            queues = survivor.AvailIdx.Length;
        }
        else
        {
            _memFd = Libc.MemfdCreate("test-guest-ram", Libc.MFD_CLOEXEC);
            Assert.Equal(0, Libc.Ftruncate(_memFd, (long)MemoryBytes));
            _mem = Libc.Mmap(0, (nuint)MemoryBytes, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, _memFd, 0);
            Assert.NotEqual(Libc.MapFailed, _mem);
            _availIdx = new ushort[queues];
            _nextDesc = new ushort[queues];
        }
        _kick = new int[queues];
        _call = new int[queues];
        for (int q = 0; q < queues; q++)
        {
            _kick[q] = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
            _call[q] = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        }
    }

    /// <summary>What QEMU keeps across a backend reconnect: guest memory (with the rings) and the inflight fd.</summary>
    public sealed record Survivor(int MemFd, nint Mem, ushort[] AvailIdx, ushort[] NextDesc, ulong NextData, int InflightFd, ulong InflightSize);

    private bool _detached;

    public Survivor DetachForReconnect()
    {
        _detached = true;
        return new Survivor(_memFd, _mem, _availIdx, _nextDesc, _nextData, InflightFd, InflightSize);
    }

    public static RawVhostUserClient Reconnect(string socketPath, Survivor survivor) => new(socketPath, 0, survivor);

    public bool SendRawForTest(ReadOnlySpan<byte> bytes) => _channel.Send(bytes);

    public int MemFd => _memFd;

    public Span<byte> Guest(ulong gpa, int length) => new((void*)(_mem + (nint)gpa), length);

    // ---- messages -----------------------------------------------------------------------------------

    public bool Send(uint request, ReadOnlySpan<byte> payload, int fd = -1, uint flags = 1)
    {
        var message = new byte[12 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(message, request);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), (uint)payload.Length);
        payload.CopyTo(message.AsSpan(12));
        return _channel.Send(message, fd);
    }

    /// <summary>Reads one reply; null when the server closed the connection.</summary>
    public byte[]? ReadReply(List<int>? fds = null)
    {
        fds ??= new List<int>();
        var header = new byte[12];
        if (_channel.ReadExactly(header, fds, out _) <= 0)
        {
            return null;
        }
        var payload = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8))];
        if (payload.Length > 0 && _channel.ReadExactly(payload, fds, out _) <= 0)
        {
            return null;
        }
        return payload;
    }

    public ulong GetU64(uint request)
    {
        Assert.True(Send(request, ReadOnlySpan<byte>.Empty));
        var reply = ReadReply() ?? throw new Xunit.Sdk.XunitException($"no reply to {request}");
        return BinaryPrimitives.ReadUInt64LittleEndian(reply);
    }

    public void SetU64(uint request, ulong value, int fd = -1)
    {
        Span<byte> p = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(p, value);
        Assert.True(Send(request, p, fd));
    }

    public void SetState(uint request, uint index, uint num)
    {
        Span<byte> p = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(p, index);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], num);
        Assert.True(Send(request, p));
    }

    /// <summary>A barrier: GET_QUEUE_NUM's reply proves every earlier message was handled.</summary>
    public ulong Sync() => GetU64(VhostUserProtocol.GetQueueNum);

    public void SendMemTable()
    {
        var p = new byte[8 + 32];
        BinaryPrimitives.WriteUInt32LittleEndian(p, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(8), 0);                // guest physical address
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16), MemoryBytes);     // size
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24), UvaBase);         // front-end virtual address
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(32), 0);               // mmap offset
        Assert.True(Send(VhostUserProtocol.SetMemTable, p, _memFd));
    }

    public static ulong DescGpa(int q) => (ulong)q * QueueStride;
    public static ulong AvailGpa(int q) => (ulong)q * QueueStride + 0x1000;
    public static ulong UsedGpa(int q) => (ulong)q * QueueStride + 0x2000;

    public void SendVringAddr(int q, ulong flags = 0, ulong? descUva = null)
    {
        var p = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(p, (uint)q);
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(4), (uint)flags);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(8), descUva ?? UvaBase + DescGpa(q));
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16), UvaBase + UsedGpa(q));
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24), UvaBase + AvailGpa(q));
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(32), UsedGpa(q));
        Assert.True(Send(VhostUserProtocol.SetVringAddr, p));
    }

    /// <summary>The whole QEMU-like set-up: features, memory, rings, eventfds, enable.</summary>
    public void SetUp(int queues = 1, bool eventIdx = false, ulong extraFeatures = 0, bool inflightFromServer = false, int inflightFd = -1, ushort? base0 = null)
    {
        ulong offered = GetU64(VhostUserProtocol.GetFeatures);
        Assert.NotEqual(0UL, offered & (1UL << VhostUserProtocol.FeatureProtocolFeatures));
        ulong protocol = GetU64(VhostUserProtocol.GetProtocolFeatures);
        SetU64(VhostUserProtocol.SetProtocolFeatures, protocol);
        Assert.True(Send(VhostUserProtocol.SetOwner, ReadOnlySpan<byte>.Empty));
        ulong features = 1UL << 32 | 1UL << VhostUserProtocol.FeatureProtocolFeatures | 1UL << 9 | 1UL << 13 | 1UL << 14 | extraFeatures;
        if (eventIdx)
        {
            features |= 1UL << VhostUserProtocol.FeatureEventIdx;
        }
        SetU64(VhostUserProtocol.SetFeatures, features);
        if (inflightFromServer)
        {
            InflightFd = GetInflight(queues);
        }
        else if (inflightFd >= 0)
        {
            var p = new byte[24];
            BinaryPrimitives.WriteUInt64LittleEndian(p, InflightSize);
            BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(16), (ushort)queues);
            BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(18), QueueSize);
            Assert.True(Send(VhostUserProtocol.SetInflightFd, p, inflightFd));
        }
        SendMemTable();
        for (int q = 0; q < queues; q++)
        {
            SetState(VhostUserProtocol.SetVringNum, (uint)q, QueueSize);
            SetState(VhostUserProtocol.SetVringBase, (uint)q, base0 ?? 0);
            SendVringAddr(q);
            SetU64(VhostUserProtocol.SetVringCall, (ulong)q, _call[q]);
            SetU64(VhostUserProtocol.SetVringKick, (ulong)q, _kick[q]);
            SetState(VhostUserProtocol.SetVringEnable, (uint)q, 1);
        }
        Sync();
    }

    public int InflightFd { get; private set; } = -1;
    public ulong InflightSize { get; private set; }

    private int GetInflight(int queues)
    {
        var p = new byte[24];
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(16), (ushort)queues);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(18), QueueSize);
        Assert.True(Send(VhostUserProtocol.GetInflightFd, p));
        var fds = new List<int>();
        var reply = ReadReply(fds) ?? throw new Xunit.Sdk.XunitException("no GET_INFLIGHT_FD reply");
        Assert.Single(fds);
        InflightSize = BinaryPrimitives.ReadUInt64LittleEndian(reply);
        return fds[0];
    }

    // ---- requests -----------------------------------------------------------------------------------

    public readonly record struct Submitted(int Queue, ushort Head, ulong HeaderGpa, ulong DataGpa, int DataLength, ulong StatusGpa);

    public ulong Alloc(int length)
    {
        ulong at = _nextData;
        _nextData += (ulong)((length + 4095) & ~4095);
        if (_nextData >= MemoryBytes)
        {
            _nextData = DataBase;
            at = _nextData;
            _nextData += (ulong)((length + 4095) & ~4095);
        }
        return at;
    }

    private void WriteDesc(int q, ushort index, ulong addr, uint length, ushort flags, ushort next)
    {
        var d = Guest(DescGpa(q) + 16UL * index, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], length);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Builds header → data → status descriptors and publishes them (kick optional).</summary>
    public Submitted Submit(int q, uint type, ulong sector, ReadOnlySpan<byte> data, int readLength = 0, bool kick = true,
        ulong? dataAddressOverride = null, bool loop = false)
    {
        ulong header = Alloc(16);
        var h = Guest(header, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
        int dataLength = type == 0 || type == 8 ? readLength : data.Length;
        ulong dataGpa = dataLength > 0 ? Alloc(dataLength) : 0;
        if (data.Length > 0)
        {
            data.CopyTo(Guest(dataGpa, data.Length));
        }
        ulong status = Alloc(1);
        Guest(status, 1)[0] = 0xee;

        ushort head = _nextDesc[q];
        ushort i0 = head, i1 = (ushort)((head + 1) % QueueSize), i2 = (ushort)((head + 2) % QueueSize);
        bool writeData = type == 0 || type == 8;
        if (dataLength > 0)
        {
            WriteDesc(q, i0, header, 16, 1, i1);
            WriteDesc(q, i1, dataAddressOverride ?? dataGpa, (uint)dataLength, (ushort)(1 | (writeData ? 2 : 0)), loop ? i0 : i2);
            WriteDesc(q, i2, status, 1, 2, 0);
            _nextDesc[q] = (ushort)((head + 3) % QueueSize);
        }
        else
        {
            WriteDesc(q, i0, header, 16, 1, i1);
            WriteDesc(q, i1, status, 1, 2, 0);
            _nextDesc[q] = (ushort)((head + 2) % QueueSize);
        }
        PublishHead(q, head, kick);
        return new Submitted(q, head, header, dataGpa, dataLength, status);
    }

    /// <summary>Puts a raw head index into the avail ring (may be out of range on purpose).</summary>
    public void PublishHead(int q, ushort head, bool kick = true)
    {
        ushort idx = _availIdx[q];
        BinaryPrimitives.WriteUInt16LittleEndian(Guest(AvailGpa(q) + 4 + 2UL * (ulong)(idx % QueueSize), 2), head);
        Interlocked.MemoryBarrier();
        _availIdx[q] = (ushort)(idx + 1);
        Volatile.Write(ref *(ushort*)(_mem + (nint)AvailGpa(q) + 2), _availIdx[q]);
        if (kick)
        {
            Kick(q);
        }
    }

    public void Kick(int q) => Libc.SignalEventFd(_kick[q]);

    public ushort UsedIdx(int q) => Volatile.Read(ref *(ushort*)(_mem + (nint)UsedGpa(q) + 2));

    public (uint Id, uint Length) UsedElem(int q, ushort idx)
    {
        var e = Guest(UsedGpa(q) + 4 + 8UL * (ulong)(idx % QueueSize), 8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]));
    }

    /// <summary>Waits (bounded) until the used index reaches <paramref name="target"/>.</summary>
    public void WaitUsed(int q, ushort target, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while ((ushort)(UsedIdx(q) - target) > 0x8000)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"queue {q}: used index stayed at {UsedIdx(q)}, expected {target}");
            }
            var pfd = new Libc.PollFd { Fd = _call[q], Events = Libc.POLLIN };
            Libc.Poll(&pfd, 1, 20);
            Libc.DrainEventFd(_call[q]);
        }
    }

    public byte Status(in Submitted s) => Guest(s.StatusGpa, 1)[0];

    public byte[] Data(in Submitted s) => Guest(s.DataGpa, s.DataLength).ToArray();

    /// <summary>Submits one request and waits for its completion; returns its status byte.</summary>
    public byte Run(int q, uint type, ulong sector, ReadOnlySpan<byte> data, int readLength, out byte[] read)
    {
        ushort before = UsedIdx(q);
        var s = Submit(q, type, sector, data, readLength);
        WaitUsed(q, (ushort)(before + 1));
        read = Data(s);
        return Status(s);
    }

    /// <summary>True when the server closed the connection (reads EOF) within the deadline.</summary>
    public bool IsClosedByServer(TimeSpan timeout)
    {
        var pfd = new Libc.PollFd { Fd = _channel.Fd, Events = Libc.POLLIN };
        if (Libc.Poll(&pfd, 1, (int)timeout.TotalMilliseconds) <= 0)
        {
            return false;
        }
        byte b;
        return Libc.Read(_channel.Fd, &b, 1) <= 0;
    }

    public void Dispose()
    {
        _channel.Dispose();
        foreach (int fd in _kick.Concat(_call))
        {
            Libc.Close(fd);
        }
        if (_detached)
        {
            return;
        }
        Libc.Munmap(_mem, (nuint)MemoryBytes);
        Libc.Close(_memFd);
        if (InflightFd >= 0)
        {
            Libc.Close(InflightFd);
        }
    }
}
