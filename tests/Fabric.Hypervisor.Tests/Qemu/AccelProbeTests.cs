using Fabric.Hypervisor.Qemu;
using Fabric.Hypervisor.Tests.Infra;

namespace Fabric.Hypervisor.Tests.Qemu;

[Collection(QemuCollection.Name)]
public class AccelProbeTests(GuestImageFixture guest) : IDisposable
{
    private readonly TestDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Explicit_settings_need_no_probe_and_unknown_ones_are_refused()
    {
        Assert.Equal(QemuAccel.Tcg, await AccelProbe.ResolveAsync("tcg", "qemu-system-x86_64", null, null, TimeSpan.FromSeconds(1), default));
        Assert.Equal(QemuAccel.Kvm, await AccelProbe.ResolveAsync("KVM", "qemu-system-x86_64", null, null, TimeSpan.FromSeconds(1), default));
        Assert.Throws<ArgumentException>(() => { _ = AccelProbe.ResolveAsync("hvf", "qemu-system-x86_64", null, null, TimeSpan.FromSeconds(1), default); });
    }

    /// <summary>
    /// "auto" boots the guest under KVM and keeps KVM only if the guest reaches its marker. On this machine
    /// kind /dev/kvm exists but cannot run the guest (nested without VMX), so the answer must be TCG here;
    /// on a machine with a working KVM it is KVM. Either way the answer is cached in the file.
    /// </summary>
    [QemuFact]
    public async Task Auto_probes_once_and_caches_the_answer()
    {
        var cache = Path.Combine(_dir.Path, "accel");
        var first = await AccelProbe.ResolveAsync("auto", "qemu-system-x86_64", guest.Image, cache, TimeSpan.FromSeconds(15), default);
        if (!File.Exists("/dev/kvm"))
        {
            Assert.Equal(QemuAccel.Tcg, first);
            return;
        }
        Assert.Equal(first == QemuAccel.Kvm ? "kvm" : "tcg", File.ReadAllText(cache).Trim());
        Assert.Equal(first, await AccelProbe.ResolveAsync("auto", "qemu-system-x86_64", guest.Image, cache, TimeSpan.FromSeconds(15), default));
    }
}
