using System.Buffers.Binary;
using Fabric.BlockBackend.Tests.Support;
using Fabric.BlockBackend.VhostUser;
using Fabric.BlockBackend.Volumes;

namespace Fabric.BlockBackend.Tests.VhostUser;

/// <summary>The vhost-user-blk server driven by a hand-written front-end: semantics, queues, reconnect, bad input.</summary>
public sealed class VhostUserRawClientTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private sealed class Rig : IAsyncDisposable
    {
        public required TempDir Dir { get; init; }
        public required MemoryBlockVolume Volume { get; init; }
        public required VhostUserBlkServer Server { get; init; }
        public required ListLogger Log { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Server.DisposeAsync();
            Dir.Dispose();
        }
    }

    private Rig Start(int queues = 1, Fabric.Core.Io.IBlockVolume? volume = null, MemoryBlockVolume? memory = null)
    {
        var dir = new TempDir();
        var log = new ListLogger(output);
        memory ??= new MemoryBlockVolume("raw", 32 * MiB);
        var server = new VhostUserBlkServer(dir["blk.sock"], volume ?? memory, new VhostUserBlkOptions { NumQueues = queues, SerialId = "fabric-serial-0123456789" }, log);
        server.Start();
        return new Rig { Dir = dir, Volume = memory, Server = server, Log = log };
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task Requests_of_every_type_round_trip_on_two_queues()
    {
        await using var rig = Start(queues: 2);
        using var c = new RawVhostUserClient(rig.Server.SocketPath, queues: 2);
        Assert.Equal(2UL, c.GetU64(VhostUserProtocol.GetQueueNum));
        c.SetUp(queues: 2, eventIdx: true);

        // GET_CONFIG: capacity in 512-byte sectors, blk_size, seg_max, num_queues.
        var cfg = new byte[12 + 60];
        BinaryPrimitives.WriteUInt32LittleEndian(cfg.AsSpan(4), 60);
        Assert.True(c.Send(VhostUserProtocol.GetConfig, cfg));
        var config = c.ReadReply()!;
        Assert.Equal(72, config.Length);
        Assert.Equal((ulong)(32 * MiB / 512), BinaryPrimitives.ReadUInt64LittleEndian(config.AsSpan(12)));
        Assert.Equal(126u, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(12 + 12)));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(config.AsSpan(12 + 20)));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(config.AsSpan(12 + 34)));

        var data = Pattern(8192, 1);
        Assert.Equal(0, c.Run(0, 1, 16, data, 0, out _));                       // OUT at sector 16
        Assert.Equal(0, c.Run(1, 0, 16, default, 8192, out var read));          // IN on the other queue
        Assert.Equal(data, read);
        Assert.Equal(0, c.Run(0, 4, 0, default, 0, out _));                     // FLUSH
        Assert.Equal(0, c.Run(1, 8, 0, default, 20, out var id));              // GET_ID
        Assert.Equal("fabric-serial-012345", System.Text.Encoding.ASCII.GetString(id));

        var seg = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(seg, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(seg.AsSpan(8), 8);             // 8 sectors = first 4 KiB
        Assert.Equal(0, c.Run(0, 11, 0, seg, 0, out _));                        // DISCARD
        BinaryPrimitives.WriteUInt64LittleEndian(seg, 24);
        BinaryPrimitives.WriteUInt32LittleEndian(seg.AsSpan(12), 0);            // WRITE_ZEROES without unmap
        Assert.Equal(0, c.Run(0, 13, 0, seg, 0, out _));
        Assert.Equal(0, c.Run(0, 0, 16, default, 8192, out read));
        Assert.True(read.All(b => b == 0));
        Assert.Equal(2, c.Run(0, 99, 0, default, 0, out _));                   // unknown type: UNSUPP

        // Many in flight at once: publish 20 writes, kick once.
        ushort before = c.UsedIdx(0);
        var subs = Enumerable.Range(0, 20).Select(i => c.Submit(0, 1, (ulong)(1000 + 8 * i), Pattern(4096, 100 + i), kick: false)).ToList();
        c.Kick(0);
        c.WaitUsed(0, (ushort)(before + 20));
        Assert.All(subs, s => Assert.Equal(0, c.Status(s)));
        var buffer = new byte[4096];
        for (int i = 0; i < 20; i++)
        {
            await rig.Volume.ReadAsync((1000 + 8 * i) * 512L, buffer, default);
            Assert.Equal(Pattern(4096, 100 + i), buffer);
        }
    }

    [Fact]
    public async Task Out_of_range_request_fails_alone()
    {
        await using var rig = Start();
        using var c = new RawVhostUserClient(rig.Server.SocketPath);
        c.SetUp();
        Assert.Equal(1, c.Run(0, 0, (ulong)(32 * MiB / 512) - 1, default, 4096, out _)); // past the end: IOERR
        Assert.Equal(1, c.Run(0, 1, ulong.MaxValue / 256, new byte[512], 0, out _));       // sector overflow
        await rig.Log.WaitForAsync("past the end");
        Assert.Equal(0, c.Run(0, 1, 0, new byte[512], 0, out _));
    }

    [Fact]
    public async Task Descriptor_outside_guest_memory_or_in_a_loop_fails_that_request_only()
    {
        await using var rig = Start();
        using var c = new RawVhostUserClient(rig.Server.SocketPath);
        c.SetUp();

        ushort before = c.UsedIdx(0);
        var bad = c.Submit(0, 0, 0, default, 4096, dataAddressOverride: RawVhostUserClient.MemoryBytes + 0x1000);
        c.WaitUsed(0, (ushort)(before + 1));
        Assert.Equal(0u, c.UsedElem(0, before).Length); // no status byte could be trusted past the bad segment
        await rig.Log.WaitForAsync("points outside guest memory");

        before = c.UsedIdx(0);
        var looped = c.Submit(0, 1, 0, Pattern(4096, 2), loop: true);
        c.WaitUsed(0, (ushort)(before + 1));
        await rig.Log.WaitForAsync("loops");

        before = c.UsedIdx(0);
        var straddling = c.Submit(0, 0, 0, default, 8192, dataAddressOverride: RawVhostUserClient.MemoryBytes - 4096);
        c.WaitUsed(0, (ushort)(before + 1));

        Assert.Equal(0, c.Run(0, 1, 8, Pattern(4096, 5), 0, out _));
        Assert.Equal(0, c.Run(0, 0, 8, default, 4096, out var read));
        Assert.Equal(Pattern(4096, 5), read);
        Assert.True(rig.Server.Connected);
    }

    [Fact]
    public async Task Head_index_outside_the_ring_stops_that_queue_and_a_new_connection_works()
    {
        await using var rig = Start();
        using (var c = new RawVhostUserClient(rig.Server.SocketPath))
        {
            c.SetUp();
            c.PublishHead(0, 5000);
            await rig.Log.WaitForAsync("names descriptor head 5000");
        }
        using var d = new RawVhostUserClient(rig.Server.SocketPath);
        d.SetUp();
        Assert.Equal(0, d.Run(0, 1, 0, Pattern(512, 9), 0, out _));
    }

    [Fact]
    public async Task Ring_addresses_outside_guest_memory_are_refused()
    {
        await using var rig = Start();
        using var c = new RawVhostUserClient(rig.Server.SocketPath);
        c.SetUp();
        c.SendVringAddr(0, descUva: 0x1234_0000); // not a front-end address of any region
        c.Sync();
        await rig.Log.WaitForAsync("not inside guest memory");
        Assert.True(rig.Server.Connected);
    }

    [Theory]
    [InlineData("wrong size", VhostUserProtocol.SetVringNum, 4, "payload of 4 bytes, expected 8")]
    [InlineData("bad vring index", VhostUserProtocol.SetVringNum, 8, "vring index 7")]
    [InlineData("wrong config size", VhostUserProtocol.GetConfig, 20, "offset 0 size 60")]
    [InlineData("unknown request", 77u, 0, "request 77 is not supported")]
    [InlineData("inflight region swapped under running rings", VhostUserProtocol.GetInflightFd, 24, "while queues are running")]
    public async Task Malformed_message_closes_the_session_and_the_server_accepts_the_next(string what, uint request, int size, string reason)
    {
        output.WriteLine(what);
        await using var rig = Start();
        using (var c = new RawVhostUserClient(rig.Server.SocketPath))
        {
            c.SetUp();
            var payload = new byte[size];
            if (request == VhostUserProtocol.SetVringNum && size == 8)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(payload, 7);
                BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), 64);
            }
            if (request == VhostUserProtocol.GetConfig)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), 60);
            }
            Assert.True(c.Send(request, payload));
            Assert.True(c.IsClosedByServer(Deadline));
        }
        var line = await rig.Log.WaitForAsync("closing session");
        Assert.Contains(reason, line);

        using var d = new RawVhostUserClient(rig.Server.SocketPath);
        d.SetUp();
        Assert.Equal(0, d.Run(0, 1, 0, Pattern(512, 3), 0, out _));
        Assert.Equal(0, d.Run(0, 0, 0, default, 512, out var read));
        Assert.Equal(Pattern(512, 3), read);
    }

    [Fact]
    public async Task Oversized_message_header_closes_the_session()
    {
        await using var rig = Start();
        using (var c = new RawVhostUserClient(rig.Server.SocketPath))
        {
            c.SetUp();
            var message = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(message, VhostUserProtocol.SetMemTable);
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), 1);
            BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), 1 << 20);
            Assert.True(c.SendRawForTest(message));
            Assert.True(c.IsClosedByServer(Deadline));
        }
        await rig.Log.WaitForAsync("payload size 1048576 exceeds 4096");
        using var d = new RawVhostUserClient(rig.Server.SocketPath);
        d.SetUp();
        Assert.Equal(0, d.Run(0, 4, 0, default, 0, out _));
    }

    [Fact]
    public async Task Requests_in_flight_when_the_front_end_drops_are_resubmitted_after_reconnect()
    {
        var memory = new MemoryBlockVolume("gated", 32 * MiB);
        var gated = new GatedVolume(memory);
        await using var rig = Start(volume: gated, memory: memory);

        var c = new RawVhostUserClient(rig.Server.SocketPath);
        c.SetUp(inflightFromServer: true);
        Assert.Equal(0, c.Run(0, 1, 0, Pattern(4096, 1), 0, out _)); // one completed before the stall
        gated.Close();
        var stalled = Enumerable.Range(0, 5).Select(i => c.Submit(0, 1, (ulong)(64 + 8 * i), Pattern(4096, 10 + i), kick: false)).ToList();
        c.Kick(0);
        var deadline = DateTime.UtcNow + Deadline;
        while (gated.WaitingWrites < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal(5, gated.WaitingWrites);
        ushort usedBefore = c.UsedIdx(0);

        // The front-end goes away with 5 writes in flight (QEMU restarting its chardev, or the backend being
        // replaced). Keep its guest memory and inflight fd, as QEMU does, and reconnect.
        var survivor = c.DetachForReconnect();
        c.Dispose();
        deadline = DateTime.UtcNow + Deadline;
        while (rig.Server.Connected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.False(rig.Server.Connected);
        gated.Release();

        using var d = RawVhostUserClient.Reconnect(rig.Server.SocketPath, survivor);
        d.SetUp(inflightFd: survivor.InflightFd, base0: usedBefore);
        d.WaitUsed(0, (ushort)(usedBefore + 5));
        await rig.Log.WaitForAsync("resubmitting 5 requests");
        var buffer = new byte[4096];
        for (int i = 0; i < 5; i++)
        {
            await memory.ReadAsync((64 + 8 * i) * 512L, buffer, default);
            Assert.Equal(Pattern(4096, 10 + i), buffer);
            Assert.Equal(0, d.Status(stalled[i]));
        }
        // And the ring goes on normally afterwards.
        Assert.Equal(0, d.Run(0, 0, 64, default, 4096, out var read));
        Assert.Equal(Pattern(4096, 10), read);
    }

    [Fact]
    public async Task Dirty_log_marks_every_page_the_backend_writes_during_migration()
    {
        await using var rig = Start();
        using var c = new RawVhostUserClient(rig.Server.SocketPath);
        c.SetUp(extraFeatures: 1UL << VhostUserProtocol.FeatureLogAll);

        // QEMU's log: one bit per 4 KiB page of guest memory, in a shared memfd.
        int logFd = Fabric.BlockBackend.Native.Libc.MemfdCreate("test-dirty-log", 0);
        const int logBytes = (int)(RawVhostUserClient.MemoryBytes / 4096 / 8);
        Assert.Equal(0, Fabric.BlockBackend.Native.Libc.Ftruncate(logFd, logBytes));
        var payload = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, logBytes);
        Assert.True(c.Send(VhostUserProtocol.SetLogBase, payload, logFd));
        Assert.NotNull(c.ReadReply()); // QEMU waits for this reply
        c.SendVringAddr(0, flags: 1);  // log used-ring writes at the used ring's guest address

        Assert.Equal(0, c.Run(0, 1, 0, Pattern(8192, 4), 0, out _));
        var s = c.Submit(0, 0, 0, default, 8192);
        c.WaitUsed(0, 2);
        Assert.Equal(0, c.Status(s));

        using var log = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(logFd, ownsHandle: true), FileAccess.Read);
        var bits = new byte[logBytes];
        log.ReadExactly(bits);
        bool Dirty(ulong gpa) => (bits[gpa / 4096 / 8] & (1 << (int)(gpa / 4096 % 8))) != 0;
        Assert.True(Dirty(s.DataGpa), "IN data page");
        Assert.True(Dirty(s.DataGpa + 4096), "second IN data page");
        Assert.True(Dirty(s.StatusGpa), "status byte page");
        Assert.True(Dirty(RawVhostUserClient.UsedGpa(0)), "used ring page");
        Assert.False(Dirty(RawVhostUserClient.DescGpa(0)), "the descriptor table is only read");
    }
}
