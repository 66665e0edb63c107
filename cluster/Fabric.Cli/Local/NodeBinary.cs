namespace Fabric.Cli.Local;

/// <summary>Finds the node daemon (Fabric.Node.dll) built next to this CLI.</summary>
public static class NodeBinary
{
    /// <summary>The dll path: $FABRIC_NODE_DLL, else artifacts/bin/Fabric.Node/&lt;config&gt;/ beside the CLI's
    /// own artifacts/bin/Fabric.Cli/&lt;config&gt;/, else the CLI's own directory.</summary>
    public static string Locate()
    {
        if (Environment.GetEnvironmentVariable("FABRIC_NODE_DLL") is { Length: > 0 } env && File.Exists(env)) return env;
        var own = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var configuration = Path.GetFileName(own);
        var bin = Path.GetDirectoryName(Path.GetDirectoryName(own));
        var candidates = new List<string>();
        if (bin is not null)
        {
            candidates.Add(Path.Combine(bin, "Fabric.Node", configuration, "Fabric.Node.dll"));
            candidates.Add(Path.Combine(bin, "Fabric.Node", "release", "Fabric.Node.dll"));
            candidates.Add(Path.Combine(bin, "Fabric.Node", "debug", "Fabric.Node.dll"));
        }
        candidates.Add(Path.Combine(own, "Fabric.Node.dll"));
        return candidates.FirstOrDefault(File.Exists) ?? throw new CliException(
            $"the node daemon is not built (looked for {string.Join(", ", candidates)}); run `dotnet build node/Fabric.Node -c Release` or use ./fabric");
    }

    /// <summary>The `dotnet` host running this CLI.</summary>
    public static string DotnetHost() => Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
}
