using Fabric.Cli.Output;
using Fabric.Config.Loading;
using Fabric.Config.Model;
using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Cli;

/// <summary>
/// What every verb needs: where this machine's Fabric state lives ($FABRIC_HOME), which cluster config
/// to use, and a client for the cluster's monitors.
/// </summary>
/// <remarks>
/// The config is, in order: `--config FILE`; $FABRIC_CONFIG; the copy `fabric up` keeps in
/// $FABRIC_HOME/cluster.toml; cluster.example.toml in the current directory or the repository root. The
/// monitors are the config's `[cluster] monitors`, or `--monitor host:port` (repeatable) to talk to a
/// cluster without its file.
/// </remarks>
public sealed class CliContext : IDisposable
{
    public const string HomeCopyName = "cluster.toml";

    private ClusterConfig? _config;
    private MonitorClient? _monitors;

    public CliContext(bool json, string? configPath, string? home, IReadOnlyList<string> monitorAddresses)
    {
        Out = new Output.Output(json);
        ConfigPathOption = configPath;
        Home = Path.GetFullPath(home ?? Environment.GetEnvironmentVariable("FABRIC_HOME") ?? ".fabric");
        MonitorOverride = monitorAddresses;
    }

    public Output.Output Out { get; }

    public bool Json => Out.Json;

    public string Home { get; }

    public string? ConfigPathOption { get; }

    public IReadOnlyList<string> MonitorOverride { get; }

    /// <summary>The repository root (where the `fabric` script lives), when known.</summary>
    public static string? RepoRoot => Environment.GetEnvironmentVariable("FABRIC_ROOT");

    public string? ResolveConfigPath()
    {
        if (ConfigPathOption is not null) return ConfigPathOption;
        if (Environment.GetEnvironmentVariable("FABRIC_CONFIG") is { Length: > 0 } env) return env;
        var homeCopy = Path.Combine(Home, HomeCopyName);
        if (File.Exists(homeCopy)) return homeCopy;
        if (File.Exists("cluster.example.toml")) return "cluster.example.toml";
        if (RepoRoot is { } root && File.Exists(Path.Combine(root, "cluster.example.toml"))) return Path.Combine(root, "cluster.example.toml");
        return null;
    }

    /// <summary>Loads and validates a config file, printing warnings; invalid config is a usage error (2).</summary>
    public ClusterConfig LoadConfig(string path)
    {
        if (!File.Exists(path)) throw new CliException($"config file {path} does not exist", CliException.Usage);
        var loaded = ClusterConfigLoader.Load(path);
        foreach (var warning in loaded.Warnings) Out.Note(warning.ToString());
        if (!loaded.Succeeded)
        {
            throw new CliException(string.Join(Environment.NewLine, loaded.Errors.Select(e => e.ToString())) +
                $"{Environment.NewLine}fabric: {path} is not valid ({loaded.Errors.Count()} error(s)); fix the lines above", CliException.Usage);
        }
        return loaded.Config!;
    }

    public ClusterConfig Config
    {
        get
        {
            if (_config is not null) return _config;
            var path = ResolveConfigPath() ?? throw new CliException(
                "no cluster config: pass --config FILE, set FABRIC_CONFIG, or run `fabric up FILE` first", CliException.Usage);
            return _config = LoadConfig(path);
        }
    }

    public IReadOnlyList<string> MonitorAddresses
    {
        get
        {
            if (MonitorOverride.Count > 0) return MonitorOverride;
            var config = Config;
            return config.Cluster.Monitors.Select(name => config.FindNode(name)?.Grpc.ToString()
                ?? throw new CliException($"monitor {name} is not a [[node]] of {config.FileName}", CliException.Usage)).ToList();
        }
    }

    public MonitorClient Monitors => _monitors ??= new MonitorClient(MonitorAddresses, TimeSpan.FromSeconds(10));

    /// <summary>The newest map, or a clear error when no monitor answers.</summary>
    public async Task<ClusterMap> MapAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await Monitors.GetLatestMapAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            throw new CliException($"the cluster does not answer: {e.Detail}");
        }
    }

    /// <summary>Proposes changes and turns the monitor's refusal into a one-line error.</summary>
    public async Task<ulong> ApplyAsync(string reason, CancellationToken cancellationToken, params MapChange[] changes)
    {
        try
        {
            return await Monitors.ApplyAsync(reason, cancellationToken, changes).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            throw new CliException(e.Detail, e.StatusCode is StatusCode.InvalidArgument ? CliException.Usage : CliException.Failed);
        }
    }

    public void Dispose() => _monitors?.Dispose();
}
