using System.Security.Cryptography;
using Fabric.BlockBackend.Tests.Support;
using Fabric.BlockBackend.VhostUser;
using Fabric.BlockBackend.Volumes;

namespace Fabric.BlockBackend.Tests.VhostUser;

/// <summary>A real QEMU guest (TCG) with its disk on our vhost-user-blk server.</summary>
public sealed class VhostUserGuestTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;
    private static readonly TimeSpan BootAndRun = TimeSpan.FromMinutes(3);

    // The workload writes 4 MiB of random data at 1 MiB, flushes it (fsync on the block device = virtio FLUSH),
    // checks it reads back inside the guest, and prints checksums.
    private const string WriteWorkload = """
        set -e
        grep -q vda /proc/partitions || { echo "NO-DISK"; exit 3; }
        echo "SIZE=$(cat /sys/block/vda/size)"
        dd if=/dev/urandom of=/tmp/pattern bs=64k count=64 2>/dev/null
        dd if=/tmp/pattern of=/dev/vda bs=64k seek=16 conv=fsync 2>/dev/null
        sync
        echo 3 > /proc/sys/vm/drop_caches
        echo "WROTE=$(md5sum /tmp/pattern | cut -d' ' -f1)"
        echo "READBACK=$(dd if=/dev/vda bs=64k skip=16 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
        dd if=/dev/vda bs=4k skip=0 count=1 2>/dev/null | od -A n -t x1 | head -1 > /tmp/first
        echo "FIRSTBLOCK_OK=$(grep -c '00 00 00' /tmp/first)"
        """;

    private const string ReadWorkload = """
        set -e
        echo "READ=$(dd if=/dev/vda bs=64k skip=16 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
        """;

    [Fact]
    public async Task Guest_writes_flushes_powers_off_and_a_second_boot_reads_the_same_bytes()
    {
        if (!Prerequisites.Have(output, "qemu-system-x86_64", "busybox", "cpio"))
        {
            return;
        }
        using var dir = new TempDir();
        var log = new ListLogger(output);
        await using var volume = FileBlockVolume.Create(dir["disk.img"], 64 * MiB, "disk");
        await using var server = new VhostUserBlkServer(dir["blk.sock"], volume, new VhostUserBlkOptions { NumQueues = 2 }, log);
        server.Start();

        string wrote;
        await using (var guest = await QemuGuest.StartAsync(output, WriteWorkload, QemuGuest.VhostUserDisk(server.SocketPath, queues: 2)))
        {
            Assert.Equal(0, await guest.WaitForExitAsync(BootAndRun));
            Assert.Equal((64 * MiB / 512).ToString(), guest.Value("SIZE"));
            wrote = guest.Value("WROTE")!;
            Assert.Equal(wrote, guest.Value("READBACK"));
        }

        // The host sees the same bytes in the volume's file.
        var file = await File.ReadAllBytesAsync(dir["disk.img"]);
        Assert.Equal(wrote, Convert.ToHexStringLower(MD5.HashData(file.AsSpan((int)MiB, (int)(4 * MiB)))));

        // A second boot (a new QEMU, a new session on the same socket) reads it back.
        await using (var guest = await QemuGuest.StartAsync(output, ReadWorkload, QemuGuest.VhostUserDisk(server.SocketPath)))
        {
            Assert.Equal(0, await guest.WaitForExitAsync(BootAndRun));
            Assert.Equal(wrote, guest.Value("READ"));
        }
        Assert.True(server.SessionCount >= 2);
        Assert.DoesNotContain(log.Lines, l => l.Contains("closing session", StringComparison.Ordinal) && !l.Contains("front-end closed", StringComparison.Ordinal));
    }

    // For each disk: its serial (GET_ID), the cache type the guest's block layer chose, then a write with fsync.
    private const string CacheTypeWorkload = """
        set -e
        for d in vda vdb; do
          echo "$(cat /sys/block/$d/serial)=$(cat /sys/block/$d/queue/write_cache | tr ' ' '-')"
          dd if=/dev/urandom of=/dev/$d bs=4k count=16 conv=fsync 2>/dev/null
        done
        """;

    [Fact]
    public async Task A_guest_runs_a_disk_without_a_volatile_cache_write_through_and_sends_it_no_flushes()
    {
        if (!Prerequisites.Have(output, "qemu-system-x86_64", "busybox", "cpio"))
        {
            return;
        }
        using var dir = new TempDir();
        var log = new ListLogger(output);
        var cached = new FlushCountingVolume(new MemoryBlockVolume("cached", 16 * MiB), volatileWriteCache: true);
        var through = new FlushCountingVolume(new MemoryBlockVolume("through", 16 * MiB), volatileWriteCache: false);
        await using var cachedServer = new VhostUserBlkServer(dir["cached.sock"], cached, new VhostUserBlkOptions { SerialId = "cached" }, log);
        await using var throughServer = new VhostUserBlkServer(dir["through.sock"], through, new VhostUserBlkOptions { SerialId = "through" }, log);
        cachedServer.Start();
        throughServer.Start();
        await using (var guest = await QemuGuest.StartAsync(output, CacheTypeWorkload, QemuGuest.VhostUserDisks([cachedServer.SocketPath, throughServer.SocketPath])))
        {
            Assert.Equal(0, await guest.WaitForExitAsync(BootAndRun));
            Assert.Equal("write-back", guest.Value("cached"));
            Assert.Equal("write-through", guest.Value("through"));
        }
        Assert.True(cached.Flushes > 0, "the guest sent no flush to the disk with a volatile cache");
        Assert.Equal(0, through.Flushes);
    }

    private const string ChunkWorkload = """
        set -e
        dd if=/dev/urandom of=/tmp/src bs=64k count=96 2>/dev/null
        i=0
        while [ $i -lt 96 ]; do
          dd if=/tmp/src of=/dev/vda bs=64k skip=$i seek=$i count=1 conv=fsync 2>/dev/null
          echo "CHUNK $i"
          i=$((i+1))
        done
        echo 3 > /proc/sys/vm/drop_caches
        echo "SRC=$(md5sum /tmp/src | cut -d' ' -f1)"
        echo "DISK=$(dd if=/dev/vda bs=64k count=96 2>/dev/null | md5sum | cut -d' ' -f1)"
        """;

    [Fact]
    public async Task Guest_keeps_writing_across_a_backend_restart_and_loses_nothing_it_flushed()
    {
        if (!Prerequisites.Have(output, "qemu-system-x86_64", "busybox", "cpio"))
        {
            return;
        }
        using var dir = new TempDir();
        var log = new ListLogger(output);
        await using var file = FileBlockVolume.Create(dir["disk.img"], 64 * MiB, "disk");
        var volume = new GatedVolume(file);
        var server = new VhostUserBlkServer(dir["blk.sock"], volume, new VhostUserBlkOptions(), log);
        server.Start();
        try
        {
            await using var guest = await QemuGuest.StartAsync(output, ChunkWorkload, QemuGuest.VhostUserDisk(server.SocketPath, reconnect: true));
            await guest.WaitForAsync("CHUNK 10", BootAndRun);

            // Stall the storage so writes are in flight, then take the backend away under them.
            volume.Close();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (volume.WaitingWrites == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }
            Assert.True(volume.WaitingWrites > 0, "the guest never had a write in flight");
            await server.DisposeAsync();
            volume.Release();

            // A new backend on the same socket: QEMU reconnects, hands back the inflight region, and the
            // abandoned writes are resubmitted.
            server = new VhostUserBlkServer(dir["blk.sock"], volume, new VhostUserBlkOptions(), log);
            server.Start();
            Assert.Equal(0, await guest.WaitForExitAsync(BootAndRun));
            string src = guest.Value("SRC")!;
            Assert.Equal(src, guest.Value("DISK"));
            var bytes = await File.ReadAllBytesAsync(dir["disk.img"]);
            Assert.Equal(src, Convert.ToHexStringLower(MD5.HashData(bytes.AsSpan(0, 96 * 65536))));
            Assert.True(log.Contains("resubmitting"), "the restarted backend should have resubmitted the abandoned writes");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Guest_keeps_writing_across_pauses_and_resumes_and_loses_nothing()
    {
        if (!Prerequisites.Have(output, "qemu-system-x86_64", "busybox", "cpio"))
        {
            return;
        }
        using var dir = new TempDir();
        var log = new ListLogger(output);
        await using var volume = FileBlockVolume.Create(dir["disk.img"], 64 * MiB, "disk");
        await using var server = new VhostUserBlkServer(dir["blk.sock"], volume, new VhostUserBlkOptions(), log);
        server.Start();
        await using var guest = await QemuGuest.StartAsync(output, ChunkWorkload,
            [.. QemuGuest.VhostUserDisk(server.SocketPath), .. RawQmp.Arguments(dir["qmp.sock"])]);
        using var qmp = await RawQmp.ConnectAsync(dir["qmp.sock"], TimeSpan.FromSeconds(30));
        await guest.WaitForAsync("CHUNK 2", BootAndRun);

        // Every stop makes QEMU take the rings back (GET_VRING_BASE) with writes in flight, and every cont hands
        // them over again: each pause must leave the guest's I/O going (qemu-storage-daemon 7.2 fails this:
        // it writes a completion to a call fd it has closed, and the guest's disk hangs).
        var random = new Random(7);
        var pauses = 0;
        while (!guest.Console.Contains("FABRIC-WORKLOAD-EXIT", StringComparison.Ordinal) && pauses < 200)
        {
            await qmp.ExecuteAsync("stop");
            await Task.Delay(random.Next(0, 5));
            await qmp.ExecuteAsync("cont");
            pauses++;
            var chunks = guest.Console.Split("CHUNK").Length;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (guest.Console.Split("CHUNK").Length == chunks && !guest.Console.Contains("FABRIC-WORKLOAD-EXIT", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the guest's writes stopped after pause {pauses}; console:\n{guest.Console}");
                await Task.Delay(10);
            }
        }
        output.WriteLine($"{pauses} pauses");
        Assert.Equal(0, await guest.WaitForExitAsync(BootAndRun));
        Assert.True(pauses >= 20, $"only {pauses} pauses happened before the workload ended");
        string src = guest.Value("SRC")!;
        Assert.Equal(src, guest.Value("DISK"));
        var bytes = await File.ReadAllBytesAsync(dir["disk.img"]);
        Assert.Equal(src, Convert.ToHexStringLower(MD5.HashData(bytes.AsSpan(0, 96 * 65536))));
    }
}
