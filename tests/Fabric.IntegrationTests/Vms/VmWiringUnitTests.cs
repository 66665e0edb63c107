using Fabric.Cli.Commands;
using Fabric.Core.Net;
using Fabric.Hypervisor.Runtime;
using Fabric.Node.Vms;
using Fabric.Proto;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.IntegrationTests.Vms;

/// <summary>The pieces of the VM wiring that need no cluster: spec resolution on the node, the CLI's spec
/// building, and the switch seam without a switch.</summary>
public sealed class VmWiringUnitTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("fabric-vmunit-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private string FakeImage(string name)
    {
        var dir = Path.Combine(_home, "images", name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vmlinuz"), "k");
        File.WriteAllText(Path.Combine(dir, "initrd.img"), "i");
        return dir;
    }

    [Fact]
    public async Task Image_paths_resolve_under_fabric_home_and_image_guests_wait_for_their_disks_quietly()
    {
        var dir = FakeImage("tiny");
        var resolver = new VmSpecResolver(_home, NullLogger.Instance);
        var spec = new VmSpec
        {
            Name = "vm1", MemoryBytes = 256UL << 20, Kernel = "images/tiny/vmlinuz", Initrd = "images/tiny/initrd.img",
            Cmdline = "console=ttyS0 fabric.hostname=vm1", Disks = { new VmDisk { Volume = "a" }, new VmDisk { Volume = "b" } },
        };
        var (resolved, error) = await resolver.ResolveAsync(spec, CancellationToken.None);
        Assert.Null(error);
        Assert.Equal(Path.Combine(dir, "vmlinuz"), resolved!.Kernel);
        Assert.Equal(Path.Combine(dir, "initrd.img"), resolved.Initrd);
        Assert.Equal("console=ttyS0 fabric.hostname=vm1 fabric.disks=2 quiet", resolved.Cmdline);
        Assert.Equal("images/tiny/vmlinuz", spec.Kernel); // the map's spec is not touched

        // The operator's own choices stay.
        spec.Cmdline = "console=ttyS0 fabric.disks=1 loglevel=7";
        Assert.Equal("console=ttyS0 fabric.disks=1 loglevel=7", (await resolver.ResolveAsync(spec, CancellationToken.None)).Spec!.Cmdline);

        // An image the node cannot build is refused with the fix.
        var other = spec.Clone();
        other.Kernel = "images/custom/vmlinuz";
        other.Initrd = "";
        var (none, why) = await resolver.ResolveAsync(other, CancellationToken.None);
        Assert.Null(none);
        Assert.Contains("does not exist on this node (build the image there: fabric image build --out", why);
    }

    [Fact]
    public void Cli_specs_match_the_planners_and_derive_the_hypervisors_macs()
    {
        var map = new ClusterMap();
        map.Networks.Add(new NetworkInfo { Name = "overlay", Kind = "vxlan", Vni = 5001, Gateway = "10.10.0.1" });
        var spec = VmSpecs.FromFlags("vm3", new VmSpecs.Flags
        {
            Memory = "512MiB", Vcpus = 2, Disks = ["root", "data:ro"], Nics = ["net=overlay,ip=10.10.0.13/24"], Workload = "ping 10.10.0.11",
        }, map);
        Assert.Equal(512UL << 20, spec.MemoryBytes);
        Assert.Equal("images/tiny/vmlinuz", spec.Kernel);
        Assert.False(spec.BootFromDisk);
        Assert.Equal(["root", "data"], spec.Disks.Select(d => d.Volume));
        Assert.True(spec.Disks[1].ReadOnly);
        Assert.Equal(MacAddress.Derive("vm3", 0), spec.Nics[0].Mac);
        Assert.Contains("fabric.ip=10.10.0.13/24", spec.Cmdline);
        Assert.Contains("fabric.gw=10.10.0.1", spec.Cmdline);
        Assert.Contains("fabric.workload64=", spec.Cmdline);

        var bad = Assert.Throws<Fabric.Cli.CliException>(() => VmSpecs.FromFlags("vm4", new VmSpecs.Flags { Nics = ["overlay"] }, map));
        Assert.Contains("key=value", bad.Message);
        Assert.Throws<Fabric.Cli.CliException>(() => VmSpecs.FromFlags("vm4", new VmSpecs.Flags { Memory = "12MiB" }, map));
        Assert.Throws<Fabric.Cli.CliException>(() => VmSpecs.FromFlags("vm4", new VmSpecs.Flags { BootFromDisk = true }, map));
        Assert.True(VmSpecs.FromFlags("vm4", new VmSpecs.Flags { BootFromDisk = true, Disks = ["root"] }, map).BootFromDisk);
    }

    [Fact]
    public void Cli_disks_take_a_cache_mode_as_the_config_key_does()
    {
        var map = new ClusterMap();
        var spec = VmSpecs.FromFlags("vm5", new VmSpecs.Flags
        {
            Disks = ["root,cache=writethrough", "data:ro", "scratch,cache=writeback", "logs,cache=none"],
        }, map);
        Assert.Equal(["root", "data", "scratch", "logs"], spec.Disks.Select(d => d.Volume));
        Assert.Equal(["writethrough", "", "writeback", "none"], spec.Disks.Select(d => d.Cache));
        Assert.True(spec.Disks[1].ReadOnly);
        Assert.False(spec.Disks[0].ReadOnly);
        Assert.Equal("writethrough", VmSpecs.FromFlags("vm5", new VmSpecs.Flags { Disks = ["root:ro,cache=writethrough"] }, map).Disks[0].Cache);

        foreach (var (disk, says) in new[]
        {
            ("root,cache=fast", "unknown cache mode 'fast'; expected one of \"default\", \"writeback\", \"writethrough\", \"none\""),
            ("root,cache=", "unknown cache mode ''"),
            ("root,discard=on", "unknown option 'discard=on'"),
            ("root,cache=none,cache=writeback", "cache is given twice"),
            (",cache=none", "expected a volume name"),
        })
        {
            var bad = Assert.Throws<Fabric.Cli.CliException>(() => VmSpecs.FromFlags("vm5", new VmSpecs.Flags { Disks = [disk] }, map));
            Assert.Contains($"--disk {disk}: {says}", bad.Message);
        }
    }

    [Fact]
    public async Task Without_a_switch_a_nic_is_refused_with_the_reason()
    {
        ISwitchPorts ports = new NodeSwitchPorts(() => null);
        var result = await ports.AttachStreamPortAsync(new VmPortSpec("vm1-0", "overlay", "52:54:00:00:00:01", ""), "/tmp/x.sock", true, CancellationToken.None);
        Assert.False(result.Ok);
        Assert.Contains("no virtual switch", result.Error);
        await ports.DetachPortAsync("vm1-0", CancellationToken.None);
    }
}
