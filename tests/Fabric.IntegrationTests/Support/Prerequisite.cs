namespace Fabric.IntegrationTests.Support;

/// <summary>
/// Checks for programs a test needs. Outside CI a missing one skips the test with the reason; under
/// CI=true it fails the test loudly, because the scripts must have installed it.
/// </summary>
public static class Prerequisite
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string? Which(string program)
    {
        if (program.Contains('/')) return File.Exists(program) ? program : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    public static bool IsRoot => Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root";
}

/// <summary>A fact that needs an outside program (skipped outside CI when missing; fails under CI).</summary>
public sealed class RequiresFactAttribute : FactAttribute
{
    public RequiresFactAttribute(string program, string installHint)
    {
        if (!Prerequisite.InCi && Prerequisite.Which(program) is null)
        {
            Skip = $"'{program}' is not installed ({installHint}); under CI=true this test fails instead.";
        }
    }
}
