using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using Fabric.Config.Loading;
using Fabric.Config.Toml;

namespace Fabric.Cli.Commands;

/// <summary>`fabric config check FILE` and `fabric config toml-json [FILE]`.</summary>
public static class ConfigCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var config = new Command("config", "Check config files; convert TOML");

        var checkFile = new Argument<string>("FILE") { Description = "Cluster config file to check" };
        var check = new Command("check", "Validate a cluster config file: every problem with file:line:column, the key and what was expected");
        check.Arguments.Add(checkFile);
        globals.SetAction(check, (parse, context, _) =>
        {
            var path = parse.GetValue(checkFile)!;
            if (!File.Exists(path)) throw new CliException($"config file {path} does not exist", CliException.Usage);
            var result = ClusterConfigLoader.Load(path);
            if (context.Json)
            {
                context.Out.WriteJson(new JsonObject
                {
                    ["file"] = path,
                    ["valid"] = result.Succeeded,
                    ["problems"] = new JsonArray(result.Problems.Select(p => (JsonNode)new JsonObject
                    {
                        ["severity"] = p.IsError ? "error" : "warning",
                        ["file"] = p.Location.File,
                        ["line"] = p.Location.Line,
                        ["column"] = p.Location.Column,
                        ["key"] = p.KeyPath,
                        ["message"] = p.Message,
                    }).ToArray()),
                });
            }
            else
            {
                foreach (var problem in result.Problems) Console.Error.WriteLine(problem.ToString());
                if (result.Succeeded)
                {
                    var c = result.Config!;
                    context.Out.Line($"{path}: valid: cluster {c.Cluster.Name}, {c.Nodes.Count} node(s), {c.Pools.Count} pool(s), {c.Volumes.Count} volume(s), {c.Networks.Count} network(s), {c.Vms.Count} VM(s)");
                }
            }
            return Task.FromResult(result.Succeeded ? 0 : CliException.Usage);
        });
        config.Subcommands.Add(check);

        var tomlFile = new Argument<string?>("FILE") { Description = "TOML file (default: standard input)", Arity = ArgumentArity.ZeroOrOne };
        var tomlJson = new Command("toml-json", "Decode TOML (a file or stdin) to toml-test's tagged JSON on stdout; exit 1 on invalid TOML");
        tomlJson.Arguments.Add(tomlFile);
        globals.SetAction(tomlJson, (parse, context, _) =>
        {
            var path = parse.GetValue(tomlFile);
            byte[] bytes;
            if (path is null or "-")
            {
                using var stdin = Console.OpenStandardInput();
                using var buffer = new MemoryStream();
                stdin.CopyTo(buffer);
                bytes = buffer.ToArray();
            }
            else
            {
                if (!File.Exists(path)) throw new CliException($"file {path} does not exist", CliException.Usage);
                bytes = File.ReadAllBytes(path);
            }
            try
            {
                var json = TomlTaggedJson.ConvertUtf8(bytes, path ?? "<stdin>");
                using var stdout = Console.OpenStandardOutput();
                stdout.Write(Encoding.UTF8.GetBytes(json));
                stdout.Write("\n"u8);
                return Task.FromResult(0);
            }
            catch (TomlException e)
            {
                Console.Error.WriteLine(e.Message);
                return Task.FromResult(CliException.Failed);
            }
        });
        config.Subcommands.Add(tomlJson);
        return config;
    }
}
