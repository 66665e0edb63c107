using System.Globalization;
using System.Text.Json.Nodes;

namespace Fabric.IntegrationTests.Support;

/// <summary>The toml-test suite kept as data in ../shared/toml-test (or $FABRIC_TOML_TEST_DIR).</summary>
public static class TomlSuite
{
    public static string Directory { get; } = Locate();

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("FABRIC_TOML_TEST_DIR") is { Length: > 0 } env) return Path.Combine(env, "tests");
        return Path.GetFullPath(Path.Combine(Repo.Root, "..", "shared", "toml-test", "tests"));
    }

    /// <summary>Case paths relative to tests/, e.g. "valid/array/array.toml", that apply to TOML 1.0.0.</summary>
    public static IEnumerable<string> Cases()
    {
        var list = Path.Combine(Directory, "files-toml-1.0.0");
        if (!File.Exists(list)) throw new InvalidOperationException($"the toml-test suite is missing: {list} (set FABRIC_TOML_TEST_DIR)");
        return File.ReadLines(list).Where(l => l.EndsWith(".toml", StringComparison.Ordinal));
    }

    /// <summary>Compares tagged JSON as data: tables as unordered objects, floats and datetimes by value.</summary>
    public static bool SameData(JsonNode? expected, JsonNode? actual)
    {
        switch (expected)
        {
            case JsonObject e when e.Count == 2 && e.ContainsKey("type") && e.ContainsKey("value") && e["value"] is JsonValue:
                if (actual is not JsonObject a || (string?)a["type"] != (string?)e["type"]) return false;
                return SameScalar((string)e["type"]!, (string)e["value"]!, (string?)a["value"]);
            case JsonObject e:
                if (actual is not JsonObject o || o.Count != e.Count) return false;
                return e.All(p => o.ContainsKey(p.Key) && SameData(p.Value, o[p.Key]));
            case JsonArray e:
                if (actual is not JsonArray arr || arr.Count != e.Count) return false;
                return e.Select((item, i) => SameData(item, arr[i])).All(x => x);
            default:
                return false;
        }
    }

    private static bool SameScalar(string type, string expected, string? actual)
    {
        if (actual is null) return false;
        if (expected == actual) return true;
        switch (type)
        {
            case "float":
                if (expected.Contains("nan", StringComparison.OrdinalIgnoreCase)) return actual.Contains("nan", StringComparison.OrdinalIgnoreCase);
                return double.TryParse(expected.Replace("inf", "Infinity"), NumberStyles.Float, CultureInfo.InvariantCulture, out var x)
                    && double.TryParse(actual.Replace("inf", "Infinity"), NumberStyles.Float, CultureInfo.InvariantCulture, out var y) && x.Equals(y);
            case "datetime":
                return DateTimeOffset.TryParse(expected, CultureInfo.InvariantCulture, out var d1) && DateTimeOffset.TryParse(actual, CultureInfo.InvariantCulture, out var d2) && d1 == d2;
            case "datetime-local":
            case "date-local":
            case "time-local":
                return expected.Replace('T', ' ').TrimEnd('0').TrimEnd('.') == actual.Replace('T', ' ').TrimEnd('0').TrimEnd('.');
            default:
                return false;
        }
    }
}
