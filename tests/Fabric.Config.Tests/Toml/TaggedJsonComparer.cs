using System.Globalization;
using System.Text.Json;

namespace Fabric.Config.Tests.Toml;

/// <summary>
/// Compares two toml-test tagged JSON documents as data: same keys (any order), same array elements,
/// same scalar types, and values equal by meaning: floats as numbers (nan equals nan, the sign of zero
/// counts), date-times as points in time with the same offset ("17:45:56.6Z" equals "17:45:56.600Z").
/// Returns null when equal, else a description of the first difference.
/// </summary>
internal static class TaggedJsonComparer
{
    public static string? Difference(string expectedJson, string actualJson)
    {
        using var expected = JsonDocument.Parse(expectedJson);
        using var actual = JsonDocument.Parse(actualJson);
        return Compare(expected.RootElement, actual.RootElement, "$");
    }

    private static string? Compare(JsonElement expected, JsonElement actual, string path)
    {
        if (expected.ValueKind != actual.ValueKind)
        {
            return $"{path}: expected {expected.ValueKind} {expected}, found {actual.ValueKind} {actual}";
        }

        if (expected.ValueKind == JsonValueKind.Array)
        {
            var e = expected.EnumerateArray().ToList();
            var a = actual.EnumerateArray().ToList();
            if (e.Count != a.Count)
            {
                return $"{path}: expected {e.Count} elements, found {a.Count}: {actual}";
            }

            for (var i = 0; i < e.Count; i++)
            {
                var difference = Compare(e[i], a[i], $"{path}[{i}]");
                if (difference is not null)
                {
                    return difference;
                }
            }

            return null;
        }

        if (expected.ValueKind != JsonValueKind.Object)
        {
            return expected.ToString() == actual.ToString() ? null : $"{path}: expected {expected}, found {actual}";
        }

        if (IsScalar(expected))
        {
            return IsScalar(actual) ? CompareScalar(expected, actual, path) : $"{path}: expected a scalar {expected}, found {actual}";
        }

        var expectedKeys = expected.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        var actualKeys = actual.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        if (!expectedKeys.SequenceEqual(actualKeys, StringComparer.Ordinal))
        {
            return $"{path}: expected keys [{string.Join(", ", expectedKeys)}], found [{string.Join(", ", actualKeys)}]";
        }

        foreach (var key in expectedKeys)
        {
            var difference = Compare(expected.GetProperty(key), actual.GetProperty(key), $"{path}.{key}");
            if (difference is not null)
            {
                return difference;
            }
        }

        return null;
    }

    private static bool IsScalar(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object
        && element.EnumerateObject().Count() == 2
        && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
        && element.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String;

    private static string? CompareScalar(JsonElement expected, JsonElement actual, string path)
    {
        var type = expected.GetProperty("type").GetString()!;
        var actualType = actual.GetProperty("type").GetString()!;
        var e = expected.GetProperty("value").GetString()!;
        var a = actual.GetProperty("value").GetString()!;
        if (type != actualType)
        {
            return $"{path}: expected type {type} ({e}), found type {actualType} ({a})";
        }

        var equal = type switch
        {
            "float" => FloatEquals(e, a),
            "datetime" => DateTimeOffset.Parse(e, CultureInfo.InvariantCulture) is var de
                && DateTimeOffset.Parse(a, CultureInfo.InvariantCulture) is var da
                && de == da && de.Offset == da.Offset,
            "datetime-local" => DateTime.Parse(e, CultureInfo.InvariantCulture) == DateTime.Parse(a, CultureInfo.InvariantCulture),
            "time-local" => TimeOnly.Parse(e, CultureInfo.InvariantCulture) == TimeOnly.Parse(a, CultureInfo.InvariantCulture),
            _ => e == a,
        };
        return equal ? null : $"{path}: expected {type} '{e}', found '{a}'";
    }

    private static bool FloatEquals(string expected, string actual)
    {
        var e = ParseFloat(expected);
        var a = ParseFloat(actual);
        if (double.IsNaN(e))
        {
            return double.IsNaN(a);
        }

        return e.Equals(a) && double.IsNegative(e) == double.IsNegative(a);
    }

    private static double ParseFloat(string text) => text switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        "nan" or "+nan" or "-nan" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
