namespace Fabric.BlockBackend.Tests.Support;

/// <summary>The tiny guest (kernel + busybox initramfs), built once per machine into artifacts/guest by the
/// hypervisor's script (a no-op when up to date).</summary>
public static class GuestImage
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _built;

    public static async Task<(string Kernel, string Initrd)> EnsureAsync(ITestOutputHelper output)
    {
        await Gate.WaitAsync();
        try
        {
            if (_built is null)
            {
                string root = Prerequisites.RepoRoot;
                string dir = Path.Combine(root, "artifacts", "guest");
                var r = await ProcessRunner.RunAsync("bash", [Path.Combine(root, "node/Fabric.Hypervisor/Guest/build-image.sh"), dir],
                    TimeSpan.FromMinutes(8), output);
                if (r.ExitCode != 0)
                {
                    throw new Xunit.Sdk.XunitException($"guest image build failed: {r.All}");
                }
                _built = dir;
            }
            return (Path.Combine(_built, "vmlinuz"), Path.Combine(_built, "initrd.img"));
        }
        finally
        {
            Gate.Release();
        }
    }
}
