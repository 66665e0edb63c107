using Fabric.Config.Model;
using Fabric.Config.Toml;
using Fabric.Config.Validation;

namespace Fabric.Config.Loading;

/// <summary>
/// Loads a file that holds only <c>[[vm]]</c> tables (what <c>fabric vm create -f FILE</c> reads), with the
/// same keys, checks and messages as the VMs of a cluster config. The result is a <see cref="ClusterConfig"/>
/// whose only entries are the VMs (no cluster section, nodes or other tables). Whether the volumes,
/// networks and nodes the VMs name exist is the cluster map's question, not this file's.
/// </summary>
public static class VmFileLoader
{
    public static ConfigLoadResult Load(string path)
    {
        TomlDocument document;
        try
        {
            document = TomlReader.Parse(File.ReadAllBytes(path), path);
        }
        catch (TomlException exception)
        {
            return new ConfigLoadResult(null, [new ConfigError(ConfigSeverity.Error, new SourceLocation(exception.FileName, exception.Line, exception.Column), string.Empty,
                "TOML syntax: " + exception.Reason)]);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return new ConfigLoadResult(null, [new ConfigError(ConfigSeverity.Error, new SourceLocation(path, 0, 0), string.Empty, $"cannot read the VM file: {exception.Message}")]);
        }

        var errors = new ConfigErrorList();
        var vms = new ConfigBinder(document.FileName, errors).BindVmFile(document);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vm in vms)
        {
            if (!seen.Add(vm.Name)) errors.Error(vm.Source, "name", $"vm '{vm.Name}' is defined twice in this file");
        }
        if (vms.Count == 0 && errors.ErrorCount == 0)
        {
            errors.Error(new SourceLocation(document.FileName, 1, 1), "vm", "no [[vm]] tables in this file");
        }
        var config = new ClusterConfig
        {
            FileName = document.FileName,
            Cluster = new ClusterSection { Name = string.Empty, Monitors = [] },
            Vms = vms,
        };
        var problems = errors.Items.OrderBy(p => p.Location.Line).ThenBy(p => p.Location.Column).ToList();
        return new ConfigLoadResult(errors.ErrorCount == 0 ? config : null, problems);
    }
}
