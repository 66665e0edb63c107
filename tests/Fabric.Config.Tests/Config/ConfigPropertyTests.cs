using System.Text;
using Fabric.Config.Loading;
using Fabric.Config.Plan;
using Fabric.Core.Map;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Config.Tests.Config;

/// <summary>
/// Bad config input of any shape is reported, never thrown: mangled versions of the sample load to a
/// result (errors or a config), and whatever loads also plans against a new cluster's map.
/// </summary>
public sealed class ConfigPropertyTests
{
    private static readonly string[] Fragments =
    [
        "\"", "=", "[", "]", "\n", "0", "-1", "99999999999999999999", "\"\"", "\"x\"", "true", "1.5", "{}", "[]",
        "\"8GB\"", "\"0\"", "\"1EiB\"", "\"7EiB\"", "\"::\"", "\"0.0.0.0\"", "\"[::1]:1\"", "\"/\"", "\"-\"",
        "\"01:00:00:00:00:00\"", "\"10.10.0.0/0\"", "\"0s\"", "\"9999999h\"", "[[vm]]\n", "[[node]]\n", "[[network.acl]]\n",
    ];

    [Fact]
    public void MangledConfigsAreReportedNeverThrown()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var text = new StringBuilder(SampleConfig.Text);
            var edits = random.Next(1, 4);
            for (var i = 0; i < edits; i++)
            {
                // Mostly replace a value (the text after some '= '), sometimes insert anywhere.
                var equals = IndexOfNth(text, " = ", random.Next(1, 120));
                if (equals >= 0 && random.Next(4) != 0)
                {
                    var start = equals + 3;
                    var end = start;
                    while (end < text.Length && text[end] != '\n')
                    {
                        end++;
                    }

                    text.Remove(start, end - start).Insert(start, Fragments[random.Next(Fragments.Length)]);
                }
                else
                {
                    text.Insert(random.Next(text.Length + 1), Fragments[random.Next(Fragments.Length)]);
                }
            }

            var result = ClusterConfigLoader.Parse(text.ToString(), "mangled.toml");
            Assert.Equal(result.Config is null, result.Errors.Any());
            Assert.All(result.Problems, problem => Assert.True(problem.Location.Line >= 1, problem.ToString()));
            if (result.Config is { } config)
            {
                var map = MapTransactions.Genesis(config.Cluster.Name, "f", ConfigMapping.ToClusterSettings(config.Cluster), ConfigMapping.ToMonitorSet(config.Cluster), 1);
                _ = ConfigPlanner.Plan(config, map, PlanScope.Default).Render();
            }

            return true;
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(1000));
    }

    private static int IndexOfNth(StringBuilder text, string value, int n)
    {
        var haystack = text.ToString();
        var at = -1;
        for (var i = 0; i < n; i++)
        {
            at = haystack.IndexOf(value, at + 1, StringComparison.Ordinal);
            if (at < 0)
            {
                return -1;
            }
        }

        return at;
    }
}
