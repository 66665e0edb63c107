namespace Fabric.Config.Tests;

/// <summary>Where the tests run: the repository root, and whether this is CI (missing prerequisites fail there).</summary>
internal static class TestEnvironment
{
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The directory holding Fabric.sln, found by walking up from the test binaries.</summary>
    public static string? RepoRoot { get; } = FindRepoRoot();

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Fabric.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
