using Fabric.Hypervisor.Guest;
using Fabric.Hypervisor.Runtime;
using Fabric.Proto;

namespace Fabric.Hypervisor.Tests.Runtime;

public class VmSpecCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fhv-spec-").FullName;
    private readonly VmRuntimeOptions _options;

    public VmSpecCheckTests()
    {
        var k = Path.Combine(_dir, "vmlinuz");
        var i = Path.Combine(_dir, "initrd.img");
        File.WriteAllText(k, "k");
        File.WriteAllText(i, "i");
        _options = new VmRuntimeOptions { RunDirectory = Path.Combine(_dir, "run"), DefaultGuestImage = new GuestImagePaths(k, i, "test") };
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static VmSpec Good()
    {
        var s = new VmSpec { Name = "vm1", Vcpus = 1, MemoryBytes = 128UL << 20 };
        s.Disks.Add(new VmDisk { Volume = "v1" });
        s.Nics.Add(new VmNic { Network = "net1", Ip = "10.0.0.2/24" });
        return s;
    }

    [Fact]
    public void A_good_spec_passes()
    {
        Assert.Null(VmSpecCheck.Validate(Good(), _options));
    }

    [Theory]
    [InlineData("")]
    [InlineData("default")]
    [InlineData("writeback")]
    [InlineData("writethrough")]
    [InlineData("none")]
    public void Every_disk_cache_mode_passes(string cache)
    {
        var s = Good();
        s.Disks[0].Cache = cache;
        Assert.Null(VmSpecCheck.Validate(s, _options));
    }

    public static TheoryData<string, string> Bad => new()
    {
        { "name", "not valid" },
        { "memory", "less than 32 MiB" },
        { "memory-odd", "whole number of MiB" },
        { "vcpus", "more than 64" },
        { "volume-twice", "attached twice" },
        { "transport", "not vhost-user or nbd" },
        { "cache", "disk 0 cache 'unsafe' is not one of \"default\", \"writeback\", \"writethrough\", \"none\"" },
        { "mac", "is not like" },
        { "mac-twice", "used by two NICs" },
        { "ip", "not an address with a prefix" },
        { "network", "names no network" },
        { "kernel", "does not exist" },
        { "disk-boot", "needs at least one disk" },
        { "accel", "not auto, kvm or tcg" },
        { "restart", "not no or on-crash" },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void Bad_specs_are_refused_with_a_message_naming_the_problem(string what, string expect)
    {
        var s = Good();
        switch (what)
        {
            case "name": s.Name = "bad name!"; break;
            case "memory": s.MemoryBytes = 1 << 20; break;
            case "memory-odd": s.MemoryBytes = (128UL << 20) + 1; break;
            case "vcpus": s.Vcpus = 65; break;
            case "volume-twice": s.Disks.Add(new VmDisk { Volume = "v1" }); break;
            case "transport": s.Disks[0].Transport = "iscsi"; break;
            case "cache": s.Disks[0].Cache = "unsafe"; break;
            case "mac": s.Nics[0].Mac = "52:54:00:00:00"; break;
            case "mac-twice": s.Nics[0].Mac = "52:54:00:00:00:01"; s.Nics.Add(new VmNic { Network = "n2", Mac = "52:54:00:00:00:01" }); break;
            case "ip": s.Nics[0].Ip = "10.0.0.2"; break;
            case "network": s.Nics[0].Network = ""; break;
            case "kernel": s.Kernel = "/nonexistent/vmlinuz"; break;
            case "disk-boot": s.BootFromDisk = true; s.Disks.Clear(); break;
            case "accel": s.Accel = "hvf"; break;
            case "restart": s.Restart = "always"; break;
        }
        var error = VmSpecCheck.Validate(s, _options);
        Assert.NotNull(error);
        Assert.Contains(expect, error);
    }
}
