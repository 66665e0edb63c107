namespace Fabric.Config.Tests.Toml;

/// <summary>
/// A theory over the toml-test cases. Outside CI a missing suite skips with the reason; under CI=true
/// the theory runs and its single "suite missing" case fails.
/// </summary>
internal sealed class TomlTestSuiteTheoryAttribute : TheoryAttribute
{
    public TomlTestSuiteTheoryAttribute()
    {
        if (TomlTestSuite.Directory is null && !TestEnvironment.IsCi)
        {
            Skip = TomlTestSuite.MissingReason;
        }
    }
}
