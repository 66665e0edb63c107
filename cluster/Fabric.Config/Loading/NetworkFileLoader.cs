using Fabric.Config.Model;
using Fabric.Config.Toml;
using Fabric.Config.Validation;

namespace Fabric.Config.Loading;

/// <summary>
/// Loads the file `fabric net apply FILE` takes: either a whole cluster config (it has a [cluster]
/// table; loaded as <see cref="ClusterConfigLoader"/> does) or a networks file that holds only
/// <c>[[network]]</c> tables. A networks file gets the same per-table binding and the same cross-table
/// network rules (unique names, VLAN ids and VNIs) with file:line:column errors; any other table in it
/// is an error naming the cluster config as its place. The returned config of a networks file has an
/// empty [cluster] section and no nodes: only its <see cref="ClusterConfig.Networks"/> mean anything.
/// </summary>
public static class NetworkFileLoader
{
    public static ConfigLoadResult Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new ConfigLoadResult(null, [new ConfigError(ConfigSeverity.Error, new SourceLocation(path, 0, 0), string.Empty, $"cannot read the file: {exception.Message}")]);
        }

        TomlDocument document;
        try
        {
            document = TomlReader.Parse(bytes, path);
        }
        catch (TomlException exception)
        {
            return new ConfigLoadResult(null, [new ConfigError(ConfigSeverity.Error, new SourceLocation(exception.FileName, exception.Line, exception.Column), string.Empty, "TOML syntax: " + exception.Reason)]);
        }

        if (document.Root.ContainsKey("cluster")) return ClusterConfigLoader.Load(document);

        var errors = new ConfigErrorList();
        // Unknown keys are the binder's to report; these are tables a cluster config has and this file must not.
        foreach (var entry in document.Root.Entries.Where(entry => entry.Key is "node" or "pool" or "volume" or "vm"))
        {
            errors.Error(new SourceLocation(path, entry.KeyPosition.Line, entry.KeyPosition.Column), entry.Key,
                $"'{entry.Key}' does not belong in a networks file: it holds only [[network]] tables (put '{entry.Key}' in the cluster config, or give this file a [cluster] table to make it one)");
        }

        // Binding those tables would only add noise (a [[node]] here misses half its keys): stop at that.
        if (errors.ErrorCount > 0) return new ConfigLoadResult(null, errors.Items);

        var binder = new ConfigBinder(path, errors);
        var config = binder.Bind(document);
        // The binder and the validator ask every config for its [cluster] table and a node; a networks
        // file has neither by design. Their other findings stand.
        var ignored = new ConfigErrorList();
        ConfigValidator.Validate(config, binder.Gaps, ignored);
        foreach (var problem in ignored.Items.Where(p => p.KeyPath is not ("cluster" or "node")))
        {
            if (problem.IsError) errors.Error(problem.Location, problem.KeyPath, problem.Message);
            else errors.Warning(problem.Location, problem.KeyPath, problem.Message);
        }

        var kept = new ConfigErrorList();
        foreach (var problem in errors.Items.Where(p => !(p.KeyPath == "cluster" && p.Message.StartsWith("missing the [cluster] table", StringComparison.Ordinal))))
        {
            if (problem.IsError) kept.Error(problem.Location, problem.KeyPath, problem.Message);
            else kept.Warning(problem.Location, problem.KeyPath, problem.Message);
        }

        var problems = kept.Items.OrderBy(p => p.Location.Line).ThenBy(p => p.Location.Column).ToList();
        return new ConfigLoadResult(kept.ErrorCount == 0 ? config : null, problems);
    }
}
