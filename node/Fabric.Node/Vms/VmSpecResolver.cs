using Fabric.Hypervisor.Guest;
using Fabric.Proto;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Vms;

/// <summary>
/// Turns a VM spec from the map into the one this node launches: relative kernel and initrd paths (the
/// planner writes <c>images/tiny/vmlinuz</c>) are resolved against $FABRIC_HOME; the tiny guest image is
/// built there when it is missing (<see cref="GuestImage.BuildAsync"/>, once per process and directory);
/// VMs booting an image from $FABRIC_HOME/images get the guest's disk count (so /init waits for them) and
/// a quiet kernel (a TCG guest's boot is slowed by every console line) unless their cmdline says otherwise.
/// </summary>
public sealed class VmSpecResolver(string home, ILogger log)
{
    /// <summary>The image name the node knows how to build (Guest/build-image.sh).</summary>
    public const string BuildableImage = "tiny";

    private readonly Dictionary<string, Lazy<Task<GuestImagePaths>>> _builds = new(StringComparer.Ordinal);

    public string ImagesDirectory => Path.Combine(home, "images");

    /// <summary>The tiny guest in $FABRIC_HOME/images/tiny, built if missing.</summary>
    public Task<GuestImagePaths> EnsureImageAsync(string directory, CancellationToken cancellationToken)
    {
        if (GuestImage.TryOpen(directory) is { } ready) return Task.FromResult(ready);
        Lazy<Task<GuestImagePaths>> build;
        lock (_builds)
        {
            if (!_builds.TryGetValue(directory, out build!) || build.Value.IsFaulted)
            {
                build = new Lazy<Task<GuestImagePaths>>(() =>
                {
                    log.LogInformation("Building the guest image in {Directory}", directory);
                    return GuestImage.BuildAsync(directory, CancellationToken.None);
                });
                _builds[directory] = build;
            }
        }
        return build.Value.WaitAsync(cancellationToken);
    }

    public async Task<(VmSpec? Spec, string? Error)> ResolveAsync(VmSpec spec, CancellationToken cancellationToken)
    {
        var resolved = spec.Clone();
        if (resolved.BootFromDisk || resolved.Kernel.Length == 0) return (resolved, null);
        resolved.Kernel = Absolute(resolved.Kernel);
        if (resolved.Initrd.Length > 0) resolved.Initrd = Absolute(resolved.Initrd);
        var imageDir = Path.GetDirectoryName(resolved.Kernel)!;
        var fromImages = Path.GetDirectoryName(imageDir) == ImagesDirectory;
        if (!File.Exists(resolved.Kernel) || (resolved.Initrd.Length > 0 && !File.Exists(resolved.Initrd)))
        {
            if (!fromImages || Path.GetFileName(imageDir) != BuildableImage)
            {
                var missing = File.Exists(resolved.Kernel) ? resolved.Initrd : resolved.Kernel;
                return (null, $"VM {spec.Name}: {missing} does not exist on this node (build the image there: fabric image build --out {imageDir})");
            }
            try
            {
                await EnsureImageAsync(imageDir, cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException e)
            {
                return (null, $"VM {spec.Name}: the guest image could not be built on this node: {e.Message}");
            }
        }
        if (fromImages)
        {
            var words = resolved.Cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (resolved.Disks.Count > 0 && !words.Any(w => w.StartsWith("fabric.disks=", StringComparison.Ordinal)))
            {
                words.Add($"fabric.disks={resolved.Disks.Count}");
            }
            if (!words.Any(w => w is "quiet" or "debug" || w.StartsWith("loglevel=", StringComparison.Ordinal)))
            {
                words.Add("quiet");
            }
            resolved.Cmdline = string.Join(' ', words);
        }
        return (resolved, null);
    }

    private string Absolute(string path) => Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(home, path));
}
