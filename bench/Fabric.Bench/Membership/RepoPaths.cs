namespace Fabric.Bench.Membership;

/// <summary>
/// Where the repository and the built programs are, seen from the bench's own output directory
/// (artifacts/bin/Fabric.Bench/&lt;config&gt;/): the CLI and the node daemon are built separately
/// (bench/membership-bench.sh builds them) because the bench drives them as processes, never in-process.
/// </summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Fabric.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Fabric.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>artifacts/bin/&lt;project&gt;/release/: the cluster benches always run release builds.</summary>
    public static string Bin(string project) => Path.Combine(Root, "artifacts", "bin", project, "release");

    public static string CliDll => Path.Combine(Bin("Fabric.Cli"), "fabric.dll");

    public static string NodeDll => Path.Combine(Bin("Fabric.Node"), "Fabric.Node.dll");

    /// <summary>Throws with the build command when the CLI or the node daemon is missing.</summary>
    public static void RequireBuiltPrograms()
    {
        foreach (var (dll, project) in new[] { (CliDll, "cluster/Fabric.Cli"), (NodeDll, "node/Fabric.Node") })
        {
            if (!File.Exists(dll))
            {
                throw new InvalidOperationException($"{dll} is not built: run `dotnet build {project} -c Release` (bench/membership-bench.sh does it)");
            }
        }
    }
}
