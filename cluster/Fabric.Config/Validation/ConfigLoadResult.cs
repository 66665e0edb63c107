using Fabric.Config.Model;

namespace Fabric.Config.Validation;

/// <summary>
/// The outcome of loading a config: the model when there are no errors (warnings may remain), and
/// every error and warning in file order.
/// </summary>
public sealed record ConfigLoadResult(ClusterConfig? Config, IReadOnlyList<ConfigError> Problems)
{
    public bool Succeeded => Config is not null;

    public IEnumerable<ConfigError> Errors => Problems.Where(problem => problem.Severity == ConfigSeverity.Error);

    public IEnumerable<ConfigError> Warnings => Problems.Where(problem => problem.Severity == ConfigSeverity.Warning);

    /// <summary>The config, or an exception listing every error (for callers that cannot go on without it).</summary>
    public ClusterConfig GetConfigOrThrow() =>
        Config ?? throw new InvalidOperationException("invalid config:\n" + string.Join('\n', Errors));
}
