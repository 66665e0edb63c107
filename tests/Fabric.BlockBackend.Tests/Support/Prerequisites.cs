namespace Fabric.BlockBackend.Tests.Support;

/// <summary>
/// Tools the tests need from the machine (QEMU). Under CI=true a missing tool fails the test loudly;
/// elsewhere the test returns early and says why (xunit 2 has no dynamic skip).
/// </summary>
public static class Prerequisites
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>True when every tool is there; false (outside CI) after telling the output why not.</summary>
    public static bool Have(ITestOutputHelper output, params string[] tools)
    {
        var missing = tools.Where(t => Find(t) is null).ToList();
        if (missing.Count == 0)
        {
            return true;
        }
        string message = $"missing tools: {string.Join(", ", missing)} (apt-get install qemu-system-x86 qemu-utils busybox-static cpio)";
        if (InCi)
        {
            throw new Xunit.Sdk.XunitException("CI=true and " + message);
        }
        output.WriteLine("SKIPPED: " + message);
        return false;
    }

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Fabric.sln")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Fabric.sln) above " + AppContext.BaseDirectory);
        }
    }
}
