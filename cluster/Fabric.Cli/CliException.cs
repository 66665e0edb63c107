namespace Fabric.Cli;

/// <summary>A failure the CLI reports as one line naming the problem and the fix, with its exit code:
/// 1 the operation failed, 2 usage or config error.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public const int Failed = 1;
    public const int Usage = 2;

    public int ExitCode { get; } = exitCode;
}
