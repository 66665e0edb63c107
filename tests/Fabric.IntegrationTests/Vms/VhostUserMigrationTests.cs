using System.Text;
using System.Text.RegularExpressions;
using Fabric.BlockBackend.Exports;
using Fabric.BlockBackend.Volumes;
using Fabric.Hypervisor.Migration;
using Fabric.Hypervisor.Runtime;
using Fabric.IntegrationTests.Support;
using Fabric.Node.Vms;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// QEMU accepts live migration of a guest whose disk is served by our vhost-user-blk backend (it offers
/// VHOST_F_LOG_ALL + LOG_SHMFD), and the dirty log keeps the guest memory the backend writes (read data,
/// status bytes, used rings) correct across the move: a guest that writes sector i, drops its page cache and
/// reads sector i back while it migrates back and forth between two "nodes" (two runtimes, two backends over
/// one volume file) never sees a mismatch, and the disk holds every sector it reported.
/// </summary>
public sealed class VhostUserMigrationTests : IDisposable
{
    // Each round: write sector i (fsync), drop the page cache, read it back through the disk: the read data
    // lands in guest memory by the backend's hand, so a page it wrote and the dirty log missed would be stale.
    private const string Workload =
        "i=0\nwhile true; do i=$((i+1)); printf '%-511s\\n' \"$i\" | dd of=/dev/vda bs=512 seek=$i count=1 conv=notrunc,fsync 2>/dev/null || { echo WRITE-FAILED $i; exit 1; }; " +
        "echo 3 > /proc/sys/vm/drop_caches; got=$(dd if=/dev/vda bs=512 skip=$i count=1 2>/dev/null | tr -d ' \\n'); " +
        "if [ \"$got\" = \"$i\" ]; then echo \"C $i\"; else echo \"MISMATCH $i got '$got'\"; exit 1; fi; done";

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fabric-vum-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private sealed class Node : IAsyncDisposable
    {
        public required BlockExports Exports { get; init; }
        public required VmRuntime Runtime { get; init; }

        public async ValueTask DisposeAsync()
        {
            await Runtime.DisposeAsync();
            await Exports.DisposeAsync();
        }
    }

    private Node NewNode(string name, DirectoryVolumeProvider volumes, Fabric.Hypervisor.Guest.GuestImagePaths image)
    {
        var exports = new BlockExports(volumes, new BlockExportsOptions { SocketDirectory = Path.Combine(_dir, name, "disks") });
        var runtime = new VmRuntime(new VmRuntimeOptions { RunDirectory = Path.Combine(_dir, name, "vms"), DefaultGuestImage = image }, exports, new NodeSwitchPorts(() => null));
        return new Node { Exports = exports, Runtime = runtime };
    }

    [RequiresFact("qemu-system-x86_64", "apt-get install qemu-system-x86")]
    public async Task A_guest_reading_and_writing_a_vhost_user_disk_migrates_back_and_forth_with_its_data_intact()
    {
        var image = await GuestImageCache.BuildAsync();
        var volumes = new DirectoryVolumeProvider(Path.Combine(_dir, "volumes"));
        Directory.CreateDirectory(Path.Combine(_dir, "volumes"));
        using (var f = new FileStream(Path.Combine(_dir, "volumes", "mig.img"), FileMode.Create)) f.SetLength(64 << 20);
        await using var a = NewNode("a", volumes, image);
        await using var b = NewNode("b", volumes, image);
        var spec = new VmSpec
        {
            Name = "mig", Vcpus = 1, MemoryBytes = 256UL << 20, Accel = "tcg",
            Cmdline = Fabric.Hypervisor.Guest.GuestCmdline.Compose(new VmSpec { Name = "mig", Disks = { new VmDisk { Volume = "mig" } } }, new Fabric.Hypervisor.Guest.GuestCmdlineOptions { Workload = Workload }),
            Disks = { new VmDisk { Volume = "mig", Transport = "vhost-user" } },
        };
        var started = await a.Runtime.StartAsync(spec, new VmStartOptions { Generation = 1 });
        Assert.True(started.Ok, started.ToString());
        await WaitConsoleAsync(a.Runtime, "\nC 3", 0);

        var hops = new[] { (a, b), (b, a) };
        for (var i = 0; i < hops.Length; i++)
        {
            var (from, to) = hops[i];
            var mark = ConsoleLength(to.Runtime);
            var (dest, prepared) = await to.Runtime.PrepareIncomingAsync(spec, new IncomingMigrationOptions { Generation = (ulong)i + 2 });
            Assert.True(prepared.Ok, prepared.ToString());
            var destDone = dest!.WaitAsync(CancellationToken.None);
            var report = await from.Runtime.MigrateOutAsync("mig", new MigrationRequest
            {
                Uri = dest.Uri,
                DestinationName = "other",
                Takeover = (resume, ct) => dest.SwitchoverAsync(resume, ct),
                SwitchBack = ct => dest.ReleaseSwitchoverAsync(ct),
            });
            Assert.True(report.Ok, $"hop {i + 1}: {report}\n{Console(from.Runtime)}");
            Assert.True((await destDone.WaitAsync(TimeSpan.FromMinutes(2))).Ok);
            Assert.Equal(VmState.Running, to.Runtime.GetStatus("mig")!.State);
            // The guest keeps counting on the destination, from where it was.
            await WaitConsoleAsync(to.Runtime, "\nC ", mark);
            await WaitConsoleAsync(to.Runtime, "\nC ", ConsoleLength(to.Runtime));
        }

        Assert.True((await a.Runtime.StopAsync("mig", TimeSpan.FromSeconds(20))).Ok);
        var consoles = Console(a.Runtime) + Console(b.Runtime);
        Assert.DoesNotContain("MISMATCH", consoles);
        Assert.DoesNotContain("WRITE-FAILED", consoles);
        var printed = Regex.Matches(consoles, @"(?m)^C (\d+)\r?$").Select(m => int.Parse(m.Groups[1].Value)).Max();
        var disk = File.ReadAllBytes(Path.Combine(_dir, "volumes", "mig.img"));
        for (var k = 1; k <= printed; k++)
        {
            Assert.Equal(k.ToString(), Encoding.ASCII.GetString(disk, k * 512, 512).Trim('\0', ' ', '\n'));
        }
    }

    private static long ConsoleLength(VmRuntime runtime) =>
        File.Exists(runtime.ConsoleLogPath("mig")) ? new FileInfo(runtime.ConsoleLogPath("mig")).Length : 0;

    private static string Console(VmRuntime runtime) =>
        File.Exists(runtime.ConsoleLogPath("mig")) ? File.ReadAllText(runtime.ConsoleLogPath("mig")) : "";

    private static async Task WaitConsoleAsync(VmRuntime runtime, string text, long from)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await ConsoleLog.WaitForAsync(runtime.ConsoleLogPath("mig"), text, from, null, cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"'{text.Trim()}' did not appear on the console; its end:\n{string.Concat(Console(runtime).TakeLast(2000))}");
        }
    }
}
