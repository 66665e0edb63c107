using System.Text.Json;
using Fabric.Hypervisor.Qemu;

namespace Fabric.Hypervisor.Tests.Qemu;

public class QemuCommandLineTests
{
    private static QemuLaunchSpec Spec(Func<QemuLaunchSpec, QemuLaunchSpec>? change = null)
    {
        var s = new QemuLaunchSpec
        {
            Name = "vm1",
            Vcpus = 2,
            MemoryBytes = 256UL * 1024 * 1024,
            Kernel = "/img/vmlinuz",
            Initrd = "/img/initrd.img",
            KernelCmdline = "console=ttyS0 fabric.hostname=vm1",
            QmpSocketPath = "/run/f/vm1/qmp.sock",
            ConsoleLogPath = "/run/f/vm1/console.log",
            PidFilePath = "/run/f/vm1/qemu.pid",
        };
        return change is null ? s : change(s);
    }

    private static string After(IReadOnlyList<string> args, string flag, int nth = 0) =>
        args.Select((a, i) => (a, i)).Where(x => x.a == flag).Select(x => args[x.i + 1]).ElementAt(nth);

    [Fact]
    public void Basic_guest_gets_shared_memfd_memory_tcg_pc_and_no_shutdown()
    {
        var a = QemuCommandLine.Build(Spec());
        Assert.Equal("pc,memory-backend=ram0", After(a, "-machine"));
        Assert.Equal("tcg", After(a, "-accel"));
        Assert.Equal("2", After(a, "-smp"));
        Assert.Equal("256M", After(a, "-m"));
        Assert.Equal("memory-backend-memfd,id=ram0,size=256M,share=on", After(a, "-object"));
        Assert.Contains("-no-shutdown", a);
        Assert.DoesNotContain("-no-reboot", a);
        Assert.Contains("-nodefaults", a);
        Assert.Equal("/img/vmlinuz", After(a, "-kernel"));
        Assert.Equal("/img/initrd.img", After(a, "-initrd"));
        Assert.Equal("console=ttyS0 fabric.hostname=vm1", After(a, "-append"));
        Assert.Equal("socket,id=qmp,path=/run/f/vm1/qmp.sock,server=on,wait=off", After(a, "-chardev", 0));
        Assert.Equal("file,id=serial0,path=/run/f/vm1/console.log,append=on", After(a, "-chardev", 1));
        Assert.Equal("chardev:serial0", After(a, "-serial"));
        Assert.Equal("/run/f/vm1/qemu.pid", After(a, "-pidfile"));
        Assert.DoesNotContain("-incoming", a);
        Assert.DoesNotContain("-S", a);
    }

    [Fact]
    public void Kvm_accel_and_start_paused()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { Accel = QemuAccel.Kvm, StartPaused = true }));
        Assert.Equal("kvm", After(a, "-accel"));
        Assert.Contains("-S", a);
    }

    [Fact]
    public void Tcg_translation_cache_size_is_passed_when_set()
    {
        Assert.Equal("tcg,tb-size=32", After(QemuCommandLine.Build(Spec(s => s with { TcgTranslationCacheMiB = 32 })), "-accel"));
        Assert.Equal("kvm", After(QemuCommandLine.Build(Spec(s => s with { TcgTranslationCacheMiB = 32, Accel = QemuAccel.Kvm })), "-accel"));
    }

    [Fact]
    public void Guest_memory_is_a_shared_memfd_preallocated_only_when_asked()
    {
        var lazy = After(QemuCommandLine.Build(Spec(s => s with { PreallocateMemory = false })), "-object");
        Assert.StartsWith("memory-backend-memfd,id=ram0,", lazy);
        Assert.Contains(",share=on", lazy);
        Assert.DoesNotContain("prealloc", lazy);
        var eager = After(QemuCommandLine.Build(Spec(s => s with { PreallocateMemory = true, Vcpus = 8 })), "-object");
        Assert.EndsWith(",share=on,prealloc=on,prealloc-threads=4", eager);
        Assert.EndsWith("prealloc-threads=1", After(QemuCommandLine.Build(Spec(s => s with { PreallocateMemory = true, Vcpus = 1 })), "-object"));
    }

    [Fact]
    public void Incoming_destination_defers_and_stays_paused_until_told()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { IncomingDefer = true, StartPaused = true }));
        Assert.Equal("defer", After(a, "-incoming"));
        Assert.Contains("-S", a);
    }

    [Fact]
    public void Vhost_user_disk_uses_a_socket_chardev_and_vhost_user_blk_pci()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { Disks = [new QemuDisk(QemuDiskTransport.VhostUser, "/run/b/d0.sock", null, false)] }));
        Assert.Equal("socket,id=disk0-sock,path=/run/b/d0.sock", After(a, "-chardev", 2));
        Assert.Equal("vhost-user-blk-pci,chardev=disk0-sock,num-queues=1,id=disk0", After(a, "-device"));
    }

    [Fact]
    public void Nbd_disk_is_a_json_blockdev_with_the_export_name()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { Disks = [new QemuDisk(QemuDiskTransport.Nbd, "/run/b/n,0.sock", "vol1", true)] }));
        using var doc = JsonDocument.Parse(After(a, "-blockdev"));
        var r = doc.RootElement;
        Assert.Equal("nbd", r.GetProperty("driver").GetString());
        Assert.Equal("unix", r.GetProperty("server").GetProperty("type").GetString());
        Assert.Equal("/run/b/n,0.sock", r.GetProperty("server").GetProperty("path").GetString()); // JSON: no comma escape
        Assert.Equal("vol1", r.GetProperty("export").GetString());
        Assert.True(r.GetProperty("read-only").GetBoolean());
        Assert.True(r.GetProperty("cache").GetProperty("direct").GetBoolean());
        Assert.Equal("virtio-blk-pci,drive=disk0-nbd,id=disk0", After(a, "-device"));
    }

    [Fact]
    public void Nics_listen_on_stream_sockets_with_their_macs()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { Nics = [new QemuNic("/run/f/vm1/nic0.sock", "52:54:00:AA:bb:01"), new QemuNic("/run/f/vm1/nic1.sock", "52:54:00:aa:bb:02")] }));
        Assert.Equal("stream,id=net0,server=on,addr.type=unix,addr.path=/run/f/vm1/nic0.sock", After(a, "-netdev", 0));
        Assert.Equal("virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01,id=nic0,romfile=", After(a, "-device", 0));
        Assert.Equal("stream,id=net1,server=on,addr.type=unix,addr.path=/run/f/vm1/nic1.sock", After(a, "-netdev", 1));
        Assert.Equal("virtio-net-pci,netdev=net1,mac=52:54:00:aa:bb:02,id=nic1,romfile=", After(a, "-device", 1));
    }

    [Fact]
    public void Boot_from_disk_has_no_kernel_and_gives_the_first_disk_bootindex_0()
    {
        var a = QemuCommandLine.Build(Spec(s => s with
        {
            BootFromDisk = true, Kernel = null,
            Disks = [new QemuDisk(QemuDiskTransport.VhostUser, "/d0", null, false), new QemuDisk(QemuDiskTransport.VhostUser, "/d1", null, false)],
        }));
        Assert.DoesNotContain("-kernel", a);
        Assert.DoesNotContain("-append", a);
        Assert.EndsWith(",bootindex=0", After(a, "-device", 0));
        Assert.DoesNotContain("bootindex", After(a, "-device", 1));
    }

    [Fact]
    public void Commas_in_paths_are_doubled_in_key_value_options()
    {
        var a = QemuCommandLine.Build(Spec(s => s with { QmpSocketPath = "/run/a,b/qmp.sock", Name = "x,y" }));
        Assert.Equal("socket,id=qmp,path=/run/a,,b/qmp.sock,server=on,wait=off", After(a, "-chardev", 0));
        Assert.StartsWith("guest=x,,y,", After(a, "-name"));
    }

    [Theory]
    [InlineData(0u, 256, "vcpus")]
    [InlineData(1u, 8, "16 MiB")]
    public void Bad_sizes_are_refused(uint vcpus, int mib, string expect)
    {
        var e = Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(Spec(s => s with { Vcpus = vcpus, MemoryBytes = (ulong)mib * 1024 * 1024 })));
        Assert.Contains(expect, e.Message);
    }

    [Fact]
    public void Bad_mac_no_kernel_and_diskless_disk_boot_are_refused()
    {
        Assert.Contains("MAC", Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(Spec(s => s with { Nics = [new QemuNic("/n", "52:54:00:zz:00:01")] }))).Message);
        Assert.Contains("kernel", Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(Spec(s => s with { Kernel = null }))).Message);
        Assert.Contains("disk", Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(Spec(s => s with { BootFromDisk = true }))).Message);
    }

    [Fact]
    public void Shell_rendering_quotes_what_needs_it()
    {
        var s = QemuCommandLine.ToShell("qemu", ["-append", "console=ttyS0 quiet", "-name", "a'b"]);
        Assert.Equal("qemu -append 'console=ttyS0 quiet' -name 'a'\\''b'", s);
    }
}
