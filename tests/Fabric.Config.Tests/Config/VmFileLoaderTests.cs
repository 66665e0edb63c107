using Fabric.Config.Loading;
using Fabric.Core.Units;

namespace Fabric.Config.Tests.Config;

/// <summary>`fabric vm create -f FILE`: a file of [[vm]] tables, checked like the VMs of a cluster config.</summary>
public sealed class VmFileLoaderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fabric-vmfile-" + Guid.NewGuid().ToString("N")[..8]);

    public VmFileLoaderTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_dir, "vms.toml");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void LoadsEveryVmTable()
    {
        var result = VmFileLoader.Load(Write("""
            [[vm]]
            name = "vm3"
            memory = "512MiB"
            image = "tiny"
            workload = "ping 10.10.0.11"
            disks = ["vm3-root"]

              [[vm.nic]]
              network = "overlay"
              mac = "52:54:00:0a:00:0d"
              ip = "10.10.0.13/24"

            [[vm]]
            name = "vm4"
            node = "n2"
            memory = "256MiB"
            image = "tiny"
            """));
        Assert.True(result.Succeeded, string.Join('\n', result.Problems));
        var vms = result.Config!.Vms;
        Assert.Equal(["vm3", "vm4"], vms.Select(v => v.Name));
        Assert.Equal(ByteSize.FromMiB(512), vms[0].Memory);
        Assert.Equal("overlay", Assert.Single(vms[0].Nics).Network);
        Assert.Equal("n2", vms[1].Node);
    }

    [Fact]
    public void BadTablesAndOtherKeysAreErrorsWithTheirLine()
    {
        var result = VmFileLoader.Load(Write("""
            [[vm]]
            name = "vm3"
            memory = "8MiB"
            image = "tiny"

            [[volume]]
            name = "x"
            """));
        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.Location.Line == 3 && e.Message.Contains("too little memory", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.KeyPath == "volume");
        Assert.False(VmFileLoader.Load(Write("# nothing here\n")).Succeeded);
        Assert.Contains("defined twice", string.Join('\n', VmFileLoader.Load(Write("[[vm]]\nname = \"a\"\nmemory = \"64MiB\"\nimage = \"tiny\"\n[[vm]]\nname = \"a\"\nmemory = \"64MiB\"\nimage = \"tiny\"\n")).Errors));
        Assert.Contains("TOML syntax", VmFileLoader.Load(Write("[[vm]\n")).Errors.Single().Message);
    }
}
