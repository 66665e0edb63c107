namespace Fabric.IntegrationTests.Support;

/// <summary>Paths of the repository and of the built programs the tests run.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Fabric.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Fabric.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>artifacts/bin/&lt;project&gt;/&lt;configuration&gt;/ of the same configuration as this test assembly.</summary>
    public static string Bin(string project)
    {
        var own = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var configuration = Path.GetFileName(own);
        return Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(own))!, project, configuration);
    }

    public static string CliDll => Path.Combine(Bin("Fabric.Cli"), "fabric.dll");

    public static string NodeDll => Path.Combine(Bin("Fabric.Node"), "Fabric.Node.dll");
}
