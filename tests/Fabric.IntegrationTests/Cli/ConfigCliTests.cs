using System.Text.Json.Nodes;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Cli;

/// <summary>The config verbs of the real CLI: broken files name file:line and the key; toml-json speaks
/// the toml-test protocol for every TOML 1.0 case of the suite.</summary>
public sealed class ConfigCliTests
{
    [Fact]
    public async Task A_broken_config_gets_file_line_and_key_and_exit_code_2()
    {
        var dir = Directory.CreateTempSubdirectory("fabric-cfg-");
        try
        {
            var path = Path.Combine(dir.FullName, "broken.toml");
            var text = File.ReadAllText(Path.Combine(Repo.Root, "cluster.example.toml"))
                .Replace("grpc = \"127.0.0.2:7000\"", "grpc = \"127.0.0.2\"")
                .Replace("vm_memory = \"2GiB\"\nvm_cpus = 2\n\n[[node]]\nname = \"n3\"", "vm_memory = \"2GiB\"\nvm_cpus = 2\n\n[[node]]\nname = \"n3\"\nvm_memroy = \"1GiB\"");
            File.WriteAllText(path, text);
            var lineOfGrpc = File.ReadAllLines(path).ToList().FindIndex(l => l.StartsWith("grpc = \"127.0.0.2\"", StringComparison.Ordinal)) + 1;

            var result = await CliRun.RunAsync(["config", "check", path]);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"broken.toml:{lineOfGrpc}:", result.Stderr);
            Assert.Contains("node[1].grpc", result.Stderr);
            Assert.Contains("host:port", result.Stderr);
            Assert.Contains("vm_memroy", result.Stderr);
            Assert.Contains("did you mean 'vm_memory'", result.Stderr);

            var json = await CliRun.RunAsync(["config", "check", path, "--json"]);
            Assert.Equal(2, json.ExitCode);
            var problems = json.Json["problems"]!.AsArray();
            Assert.Contains(problems, p => (string)p!["key"]! == "node[1].grpc" && (int)p["line"]! == lineOfGrpc);

            // The node refuses it too, with the same message, before doing anything.
            var up = await CliRun.RunAsync(["up", path, "--home", Path.Combine(dir.FullName, "home")]);
            Assert.Equal(2, up.ExitCode);
            Assert.Contains("node[1].grpc", up.Stderr);
            Assert.False(Directory.Exists(Path.Combine(dir.FullName, "home", "run")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    public static IEnumerable<object[]> TomlCases() => TomlSuite.Cases().Select(c => new object[] { c });

    /// <summary>Every TOML 1.0 case of toml-test through `fabric config toml-json`, the way the toml-test
    /// runner drives a decoder: TOML on stdin, tagged JSON on stdout, exit 1 for invalid TOML.</summary>
    [Fact]
    public async Task Toml_json_agrees_with_every_toml_1_0_case_of_the_suite()
    {
        var cases = TomlSuite.Cases().ToList();
        Assert.True(cases.Count > 600, $"only {cases.Count} cases found in {TomlSuite.Directory}");
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (relative, _) =>
        {
            var tomlPath = Path.Combine(TomlSuite.Directory, relative);
            var result = await CliRun.RunAsync(["config", "toml-json"], stdin: File.ReadAllBytes(tomlPath));
            if (relative.StartsWith("invalid/", StringComparison.Ordinal))
            {
                if (result.ExitCode != 1) failures.Add($"{relative}: accepted invalid TOML (exit {result.ExitCode})");
                return;
            }
            if (result.ExitCode != 0)
            {
                failures.Add($"{relative}: rejected: {result.Stderr.Trim()}");
                return;
            }
            var expected = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(tomlPath, ".json")));
            var actual = JsonNode.Parse(result.Stdout);
            if (!TomlSuite.SameData(expected, actual)) failures.Add($"{relative}: decoded to {result.Stdout.Trim()}");
        });
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Order().Take(30)));
    }
}
