using Fabric.Config.Model;

namespace Fabric.Config.Validation;

/// <summary>
/// One problem found in a config file. <see cref="ToString"/> reads like a compiler message:
/// <c>cluster.toml:31:8: error: node[1].grpc: expected "host:port" such as "127.0.0.1:7000", found "127.0.0.2"</c>.
/// </summary>
public sealed record ConfigError(ConfigSeverity Severity, SourceLocation Location, string KeyPath, string Message)
{
    public bool IsError => Severity == ConfigSeverity.Error;

    public override string ToString()
    {
        var severity = Severity == ConfigSeverity.Error ? "error" : "warning";
        return KeyPath.Length == 0
            ? $"{Location}: {severity}: {Message}"
            : $"{Location}: {severity}: {KeyPath}: {Message}";
    }
}
