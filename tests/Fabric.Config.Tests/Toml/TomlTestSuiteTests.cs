using Fabric.Config.Toml;

namespace Fabric.Config.Tests.Toml;

/// <summary>
/// Every TOML 1.0.0 case of the public toml-test suite: valid documents decode to the expected tagged
/// JSON (compared as data), invalid ones are rejected with a <see cref="TomlException"/> and nothing else.
/// </summary>
public sealed class TomlTestSuiteTests
{
    public static TheoryData<string> ValidCases() => new(TomlTestSuite.Cases("valid"));

    public static TheoryData<string> InvalidCases() => new(TomlTestSuite.Cases("invalid"));

    [TomlTestSuiteTheory]
    [MemberData(nameof(ValidCases))]
    public void ValidCaseDecodesToTheExpectedJson(string caseName)
    {
        Assert.True(caseName != TomlTestSuite.MissingCase, TomlTestSuite.MissingReason);
        var toml = File.ReadAllBytes(TomlTestSuite.PathOf(caseName, ".toml"));
        var expected = File.ReadAllText(TomlTestSuite.PathOf(caseName, ".json"));

        string actual;
        try
        {
            actual = TomlTaggedJson.ConvertUtf8(toml, caseName + ".toml");
        }
        catch (TomlException exception)
        {
            Assert.Fail($"valid TOML was rejected: {exception.Message}");
            return;
        }

        var difference = TaggedJsonComparer.Difference(expected, actual);
        Assert.True(difference is null, $"{difference}\n--- actual:\n{actual}");
    }

    [TomlTestSuiteTheory]
    [MemberData(nameof(InvalidCases))]
    public void InvalidCaseIsRejected(string caseName)
    {
        Assert.True(caseName != TomlTestSuite.MissingCase, TomlTestSuite.MissingReason);
        var toml = File.ReadAllBytes(TomlTestSuite.PathOf(caseName, ".toml"));

        // Only a TomlException counts: any other exception would be a crash on bad input.
        var exception = Assert.Throws<TomlException>(() => TomlReader.Parse(toml, caseName + ".toml"));
        Assert.StartsWith(caseName + ".toml:", exception.Message, StringComparison.Ordinal);
        Assert.True(exception.Line >= 1 && exception.Column >= 1);
    }

    [TomlTestSuiteTheory]
    [InlineData("valid")]
    [InlineData("invalid")]
    public void SuiteListsTheTomlOneCases(string kind)
    {
        var cases = TomlTestSuite.Cases(kind).ToList();
        Assert.DoesNotContain(TomlTestSuite.MissingCase, cases);

        // 210 valid and 499 invalid in the copy this was written against; a much smaller list means
        // the suite is truncated.
        Assert.True(cases.Count > (kind == "valid" ? 200 : 450), $"only {cases.Count} {kind} cases listed");
    }
}
