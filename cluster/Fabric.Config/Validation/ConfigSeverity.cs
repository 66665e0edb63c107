namespace Fabric.Config.Validation;

public enum ConfigSeverity
{
    /// <summary>The config cannot be used.</summary>
    Error,

    /// <summary>The config works but probably not as intended (e.g. a pool that can never be fully replicated).</summary>
    Warning,
}
