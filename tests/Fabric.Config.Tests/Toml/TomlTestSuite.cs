namespace Fabric.Config.Tests.Toml;

/// <summary>
/// Finds the toml-test cases (github.com/toml-lang/toml-test, kept as data in ../shared/toml-test next
/// to the repository) and lists the ones that apply to TOML 1.0.0. The directory is, in order:
/// $FABRIC_TOML_TEST_DIR; REPO/../shared/toml-test; shared/toml-test beside any further ancestor of
/// the repository (a git worktree such as /work/wt/NAME finds /work/shared/toml-test).
/// </summary>
internal static class TomlTestSuite
{
    public const string MissingCase = "(toml-test suite not found)";

    public static string? Directory { get; } = Locate();

    public static string MissingReason =>
        "the toml-test suite was not found: set FABRIC_TOML_TEST_DIR or put it at ../shared/toml-test next to the repository";

    public static IEnumerable<string> Cases(string kind)
    {
        if (Directory is null)
        {
            return [MissingCase];
        }

        var list = Path.Combine(Directory, "tests", "files-toml-1.0.0");
        return File.ReadAllLines(list)
            .Select(line => line.Trim())
            .Where(line => line.StartsWith(kind + "/", StringComparison.Ordinal) && line.EndsWith(".toml", StringComparison.Ordinal))
            .Select(line => line[..^".toml".Length])
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    public static string PathOf(string caseName, string extension)
    {
        Assert.NotNull(Directory);
        return Path.Combine(Directory, "tests", caseName + extension);
    }

    private static string? Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("FABRIC_TOML_TEST_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return IsSuite(fromEnvironment) ? Path.GetFullPath(fromEnvironment) : null;
        }

        if (TestEnvironment.RepoRoot is null)
        {
            return null;
        }

        for (var dir = new DirectoryInfo(TestEnvironment.RepoRoot).Parent; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "toml-test");
            if (IsSuite(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsSuite(string dir) => File.Exists(Path.Combine(dir, "tests", "files-toml-1.0.0"));
}
