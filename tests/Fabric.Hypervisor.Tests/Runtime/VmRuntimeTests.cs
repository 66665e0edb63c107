using System.Diagnostics;
using System.Text;
using Fabric.Hypervisor.Runtime;
using Fabric.Hypervisor.Tests.Infra;
using Fabric.Proto;

namespace Fabric.Hypervisor.Tests.Runtime;

/// <summary>Real QEMU guests (TCG) driven through VmRuntime: lifecycle, devices, failures.</summary>
[Collection(QemuCollection.Name)]
public class VmRuntimeTests(GuestImageFixture guest) : IDisposable
{
    private readonly TestDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private VmHarness Node(Func<VmRuntimeOptions, VmRuntimeOptions>? tune = null) => new(guest.Image, _dir, "node", null, tune);

    [QemuFact]
    public async Task Vm_boots_with_a_vhost_user_disk_and_a_nic_writes_its_disk_and_stops_gracefully()
    {
        await using var node = Node();
        node.Disks.CreateVolume("data", 16 << 20);
        var spec = VmHarness.Spec("vm1",
            workload: "echo fabric-disk-test | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null && echo WROTE",
            disks: [new VmDisk { Volume = "data" }],
            nics: [new VmNic { Network = "net1", Ip = "10.0.0.1/24" }]);

        var r = await node.Runtime.StartAsync(spec, new VmStartOptions { Generation = 3 });
        Assert.True(r.Ok, r.ToString());
        Assert.Equal(VmState.Running, node.Runtime.GetStatus("vm1")!.State);
        Assert.Equal("tcg", node.Runtime.GetStatus("vm1")!.Accel);
        Assert.True(node.Switch.IsActive("vm1-0"));
        Assert.Equal("vm1-disk0-g3", node.Disks.LockHolder("data"));
        await node.WaitForConsoleAsync("vm1", "FABRIC-GUEST-READY vm1");
        await node.WaitForConsoleAsync("vm1", "FABRIC-WORKLOAD-EXIT 0");
        Assert.Contains("fabric-init: eth0 10.0.0.1/24", node.Console("vm1"));
        Assert.Contains("WROTE", node.Console("vm1"));

        var stop = await node.Runtime.StopAsync("vm1");
        Assert.True(stop.Ok, stop.ToString());
        var stopped = await node.WaitForStateAsync("vm1", VmState.Stopped, TimeSpan.FromSeconds(30));
        Assert.Equal("stopped", stopped.Reason);
        Assert.Contains("FABRIC-GUEST-POWERDOWN", node.Console("vm1")); // the ACPI button, not a kill
        Assert.Null(node.Runtime.GetStatus("vm1"));
        Assert.Empty(node.Disks.ExportIds);
        Assert.Null(node.Disks.LockHolder("data"));
        Assert.Empty(node.Switch.PortNames);
        Assert.Empty(Directory.GetFiles(Path.Combine(node.Runtime.Options.RunDirectory, "vm1"), "*.sock"));
        Assert.False(File.Exists(Path.Combine(node.Runtime.Options.RunDirectory, "vm1", "qemu.pid")));
        var onDisk = Encoding.ASCII.GetString(File.ReadAllBytes(node.Disks.VolumePath("data")), 0, 16);
        Assert.Equal("fabric-disk-test", onDisk);
        // The console log outlives the VM until it is deleted.
        Assert.Contains("FABRIC-GUEST-READY", node.Runtime.ReadConsole("vm1", 0).Text);
        Assert.True((await node.Runtime.DeleteAsync("vm1")).Ok);
        Assert.False(Directory.Exists(Path.Combine(node.Runtime.Options.RunDirectory, "vm1")));
    }

    [QemuFact]
    public async Task Two_vms_on_the_switch_ping_each_other_and_a_guest_poweroff_is_a_clean_stop()
    {
        await using var node = Node();
        node.Disks.CreateVolume("a", 8 << 20);
        var b = VmHarness.Spec("vmb", nics: [new VmNic { Network = "net1", Ip = "10.0.0.2/24" }]);
        var a = VmHarness.Spec("vma", powerOff: true,
            workload: "echo nbd-ok | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null\n" +
                      "for i in $(seq 1 120); do if ping -c 1 -W 1 10.0.0.2 >/dev/null 2>&1; then echo PING-OK; exit 0; fi; done; echo PING-FAILED; exit 1",
            disks: [new VmDisk { Volume = "a", Transport = "nbd" }],
            nics: [new VmNic { Network = "net1", Ip = "10.0.0.1/24" }]);
        Assert.True((await node.Runtime.StartAsync(b)).Ok);
        Assert.True((await node.Runtime.StartAsync(a)).Ok);
        var stopped = await node.WaitForStateAsync("vma", VmState.Stopped, VmHarness.BootDeadline);
        Assert.Equal("guest powered off", stopped.Reason);
        Assert.Contains("PING-OK", node.Console("vma"));
        Assert.Contains("FABRIC-WORKLOAD-EXIT 0", node.Console("vma"));
        Assert.True(node.Switch.FramesFrom("vmb-0") > 0 || node.Switch.PortNames.All(p => p != "vma-0"));
        Assert.Equal("nbd-ok", Encoding.ASCII.GetString(File.ReadAllBytes(node.Disks.VolumePath("a")), 0, 6));
        Assert.DoesNotContain("vma-0", node.Switch.PortNames);
        Assert.Contains("vmb-0", node.Switch.PortNames);
        Assert.True((await node.Runtime.StopAsync("vmb")).Ok);
    }

    [QemuFact]
    public async Task A_stop_that_races_the_guests_own_poweroff_never_publishes_stopping_after_stopped()
    {
        // The node's reconciler stops a VM it no longer wants the moment it sees "stopped" published, which is
        // before the exit path has finished: that stop must not publish "stopping" over the final state (the CI
        // failure: a VM stuck in "stopping: stop requested" forever).
        await using var node = Node();
        var stops = new List<Task<VmOperationResult>>();
        node.Runtime.StateChanged += c =>
        {
            if (c.Name == "off" && c.State == VmState.Stopped)
            {
                lock (stops) stops.Add(node.Runtime.StopAsync("off"));
            }
        };
        Assert.True((await node.Runtime.StartAsync(VmHarness.Spec("off", powerOff: true))).Ok);
        var stopped = await node.WaitForStateAsync("off", VmState.Stopped, VmHarness.BootDeadline);
        Assert.Equal("guest powered off", stopped.Reason);
        Task<VmOperationResult>[] racing;
        lock (stops) racing = stops.ToArray();
        var race = Assert.Single(racing);
        await race.WaitAsync(TimeSpan.FromSeconds(60)); // not found, or success: either way it ends
        // Changes are delivered in order: once a later VM's first change arrives, every change of "off" has.
        Assert.True((await node.Runtime.StartAsync(VmHarness.Spec("marker"))).Ok);
        await node.WaitForStateAsync("marker", VmState.Starting, TimeSpan.FromSeconds(30));
        var after = node.Changes.Where(c => c.Name == "off").SkipWhile(c => c.State != VmState.Stopped).ToList();
        Assert.True(after.All(c => c.State == VmState.Stopped), "published after the final state: " +
            string.Join(" | ", after.Select(c => $"{c.State} ({c.Reason})")));
        Assert.Null(node.Runtime.GetStatus("off"));
    }

    [QemuFact]
    public async Task Stop_of_a_guest_that_ignores_the_power_button_is_forced_after_its_timeout()
    {
        await using var node = Node();
        var spec = VmHarness.Spec("hung", extra: "fabric.powerbutton=ignore");
        spec.StopTimeoutMs = 2000;
        Assert.True((await node.Runtime.StartAsync(spec)).Ok);
        await node.WaitForConsoleAsync("hung", "FABRIC-GUEST-READY hung");
        var clock = Stopwatch.StartNew();
        var r = await node.Runtime.StopAsync("hung");
        Assert.True(r.Ok, r.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"stop took {clock.Elapsed}");
        await node.WaitForChangeAsync("hung", c => c.State == VmState.Stopping && c.Reason.Contains("forced"), TimeSpan.FromSeconds(5));
        await node.WaitForStateAsync("hung", VmState.Stopped, TimeSpan.FromSeconds(5));
        Assert.DoesNotContain("FABRIC-GUEST-POWERDOWN", node.Console("hung"));
        Assert.Null(node.Runtime.GetStatus("hung"));
    }

    [QemuFact]
    public async Task A_killed_qemu_is_reported_crashed_and_restarted_when_the_policy_says_so()
    {
        await using var node = Node();
        var spec = VmHarness.Spec("crashy");
        spec.Restart = "on-crash";
        Assert.True((await node.Runtime.StartAsync(spec)).Ok);
        var firstReady = await node.WaitForConsoleAsync("crashy", "FABRIC-GUEST-READY crashy");
        var pid = node.Runtime.GetStatus("crashy")!.Pid!.Value;
        var seen = node.Changes.Count;
        Process.GetProcessById(pid).Kill();
        var crash = await node.WaitForStateAsync("crashy", VmState.Crashed, TimeSpan.FromSeconds(30), seen);
        Assert.Equal(9, crash.Exit!.Value.Signal);
        Assert.Contains("unexpectedly", crash.Reason);
        await node.WaitForStateAsync("crashy", VmState.Running, TimeSpan.FromSeconds(60), seen);
        var status = node.Runtime.GetStatus("crashy")!;
        Assert.NotEqual(pid, status.Pid);
        Assert.Equal(1, status.Restarts);
        await node.WaitForConsoleAsync("crashy", "FABRIC-GUEST-READY crashy", firstReady);
        Assert.True((await node.Runtime.StopAsync("crashy")).Ok);
    }

    [QemuFact]
    public async Task A_crash_without_restart_policy_stays_crashed()
    {
        await using var node = Node();
        Assert.True((await node.Runtime.StartAsync(VmHarness.Spec("once"))).Ok);
        var pid = node.Runtime.GetStatus("once")!.Pid!.Value;
        Process.GetProcessById(pid).Kill();
        await node.WaitForStateAsync("once", VmState.Crashed, TimeSpan.FromSeconds(30));
        await Task.Delay(500); // a restart would have been published by now (restart delay 100 ms)
        Assert.Null(node.Runtime.GetStatus("once"));
        Assert.Single(node.Changes, c => c.Name == "once" && c.State == VmState.Starting);
    }

    [QemuFact]
    public async Task Pause_resume_and_a_graceful_reboot()
    {
        await using var node = Node();
        using var follow = new CancellationTokenSource(VmHarness.BootDeadline);
        var followed = Task.Run(async () =>
        {
            // `fabric vm console --follow`: the text as it grows, from the start.
            var seen = new System.Text.StringBuilder();
            await foreach (var chunk in node.Runtime.FollowConsoleAsync("life", 0, follow.Token))
            {
                seen.Append(chunk);
                if (seen.ToString().Contains("FABRIC-GUEST-READY life")) return seen.ToString();
            }
            return seen.ToString();
        });
        Assert.True((await node.Runtime.StartAsync(VmHarness.Spec("life"))).Ok);
        var ready = await node.WaitForConsoleAsync("life", "FABRIC-GUEST-READY life");
        Assert.Contains("FABRIC-GUEST-READY life", await followed);
        var vm = node.Runtime.Find("life")!;

        Assert.True((await node.Runtime.PauseAsync("life")).Ok);
        Assert.Equal(VmState.Paused, node.Runtime.GetStatus("life")!.State);
        Assert.Equal("paused", (await vm.Qmp!.QueryStatusAsync()).Status);
        Assert.True((await node.Runtime.PauseAsync("life")).Ok); // pausing a paused VM is a no-op
        Assert.Equal(VmErrorCode.NotFound, (await node.Runtime.RebootAsync("nope")).Code);
        Assert.True((await node.Runtime.ResumeAsync("life")).Ok);
        Assert.Equal(VmState.Running, node.Runtime.GetStatus("life")!.State);
        Assert.True((await vm.Qmp.QueryStatusAsync()).Running);

        var reboot = await node.Runtime.RebootAsync("life");
        Assert.True(reboot.Ok, reboot.ToString());
        Assert.Contains("FABRIC-GUEST-POWERDOWN", node.Console("life")); // graceful: the guest shut down first
        await node.WaitForConsoleAsync("life", "FABRIC-GUEST-READY life", ready);
        Assert.Equal(VmState.Running, node.Runtime.GetStatus("life")!.State);
        Assert.Equal(vm.Qemu!.Pid, node.Runtime.GetStatus("life")!.Pid); // same QEMU, guest rebooted in place
        Assert.True((await node.Runtime.StopAsync("life")).Ok);
        Assert.Equal(VmErrorCode.NotFound, (await node.Runtime.PauseAsync("life")).Code);
    }

    [QemuFact]
    public async Task Boots_from_a_disk_volume_through_the_firmware()
    {
        await using var node = Node();
        var path = node.Disks.CreateVolume("bootdisk", 1 << 20);
        await File.WriteAllBytesAsync(path, BootSector("FABRIC-DISK-BOOT\n"));
        var spec = new VmSpec { Name = "diskboot", Vcpus = 1, MemoryBytes = 64UL << 20, BootFromDisk = true, Accel = "tcg", StopTimeoutMs = 1000 };
        spec.Disks.Add(new VmDisk { Volume = "bootdisk" });
        Assert.True((await node.Runtime.StartAsync(spec)).Ok);
        await node.WaitForConsoleAsync("diskboot", "FABRIC-DISK-BOOT");
        Assert.True((await node.Runtime.StopAsync("diskboot")).Ok);
    }

    /// <summary>A 512-byte MBR boot sector that writes <paramref name="message"/> to COM1 and halts.</summary>
    private static byte[] BootSector(string message)
    {
        var code = new byte[]
        {
            0xFA, 0x31, 0xC0, 0x8E, 0xD8, // cli; xor ax,ax; mov ds,ax
            0xBE, 0x16, 0x7C,             // mov si, 0x7C16 (the message, right after this code)
            0xBA, 0xF8, 0x03,             // mov dx, 0x3F8 (COM1)
            0xAC, 0x84, 0xC0, 0x74, 0x03, // loop: lodsb; test al,al; jz done
            0xEE, 0xEB, 0xF8,             // out dx,al; jmp loop
            0xF4, 0xEB, 0xFD,             // done: hlt; jmp done
        };
        var sector = new byte[1 << 20];
        code.CopyTo(sector, 0);
        Encoding.ASCII.GetBytes(message).CopyTo(sector, code.Length);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    [QemuFact]
    public async Task Bad_input_is_refused_and_leaves_nothing_behind()
    {
        await using var node = Node();
        node.Disks.CreateVolume("shared", 8 << 20);

        // An unknown volume (as the second disk: the first export must be rolled back).
        var r = await node.Runtime.StartAsync(VmHarness.Spec("v1", disks: [new VmDisk { Volume = "shared" }, new VmDisk { Volume = "nope" }]));
        Assert.Equal(VmErrorCode.ResourceFailed, r.Code);
        Assert.Contains("volume 'nope' does not exist", r.Error);
        AssertNothingLeft(node);
        Assert.Null(node.Disks.LockHolder("shared"));

        // An invalid spec never reaches the backend.
        var bad = VmHarness.Spec("v2");
        bad.Nics.Add(new VmNic { Network = "n", Mac = "zz" });
        Assert.Equal(VmErrorCode.InvalidSpec, (await node.Runtime.StartAsync(bad)).Code);
        AssertNothingLeft(node);

        // A kernel QEMU cannot load: QEMU's own message comes back, and the exports are gone again.
        var junk = Path.Combine(_dir.Path, "junk-kernel");
        await File.WriteAllTextAsync(junk, "this is not a kernel");
        var k = VmHarness.Spec("v3", disks: [new VmDisk { Volume = "shared" }]);
        k.Kernel = junk;
        r = await node.Runtime.StartAsync(k);
        Assert.Equal(VmErrorCode.QemuFailed, r.Code);
        Assert.Contains("exited at start", r.Error);
        AssertNothingLeft(node);
        Assert.Null(node.Disks.LockHolder("shared"));

        // A volume used by a running VM is refused for a second VM; the first is untouched.
        Assert.True((await node.Runtime.StartAsync(VmHarness.Spec("owner", disks: [new VmDisk { Volume = "shared" }]))).Ok);
        r = await node.Runtime.StartAsync(VmHarness.Spec("thief", disks: [new VmDisk { Volume = "shared" }], nics: [new VmNic { Network = "n" }]));
        Assert.Equal(VmErrorCode.ResourceFailed, r.Code);
        Assert.Contains("locked by owner-disk0-g0", r.Error);
        Assert.Null(node.Runtime.GetStatus("thief"));
        Assert.DoesNotContain("thief-0", node.Switch.PortNames);
        Assert.Equal(VmState.Running, node.Runtime.GetStatus("owner")!.State);

        // The same name twice.
        Assert.Equal(VmErrorCode.AlreadyExists, (await node.Runtime.StartAsync(VmHarness.Spec("owner"))).Code);
        Assert.True((await node.Runtime.StopAsync("owner", TimeSpan.FromSeconds(1))).Ok);
        AssertNothingLeft(node);
    }

    private static void AssertNothingLeft(VmHarness node)
    {
        Assert.Empty(node.Runtime.List());
        Assert.Empty(node.Disks.ExportIds);
        Assert.Empty(node.Switch.PortNames);
    }
}
