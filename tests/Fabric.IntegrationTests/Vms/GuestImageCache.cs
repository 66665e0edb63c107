using Fabric.Hypervisor.Guest;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// The tiny guest, built once per machine into a shared directory (the Hypervisor tests use the same one;
/// the build script is a no-op when it is up to date), and linked into a test cluster's
/// $FABRIC_HOME/images/tiny so the nodes find it as `image = "tiny"` without building it themselves.
/// </summary>
public static class GuestImageCache
{
    public static readonly string Directory = Path.Combine(Path.GetTempPath(), "fabric-test-guest");
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task<GuestImagePaths> BuildAsync()
    {
        await Gate.WaitAsync();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            return await GuestImage.BuildAsync(Directory, cts.Token, Path.Combine(Path.GetDirectoryName(Repo.NodeDll)!, "Guest"));
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Makes $HOME/images/tiny point at the shared image.</summary>
    public static async Task LinkIntoAsync(string home)
    {
        await BuildAsync();
        var images = Path.Combine(home, "images");
        System.IO.Directory.CreateDirectory(images);
        var link = Path.Combine(images, "tiny");
        if (!System.IO.Directory.Exists(link)) System.IO.Directory.CreateSymbolicLink(link, Directory);
    }
}
