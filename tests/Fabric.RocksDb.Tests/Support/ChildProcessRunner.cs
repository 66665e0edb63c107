// Starts this test assembly as a child process (its Main in ChildProcess/Program.cs) and reads its
// output line by line, with deadlines: tests wait for what the child prints, never for time.
using System.Diagnostics;

namespace Fabric.RocksDb.Tests.Support;

public sealed class ChildProcessRunner : IDisposable
{
    private readonly Process _process;

    public ChildProcessRunner(params string[] arguments)
    {
        string assembly = typeof(ChildProcessRunner).Assembly.Location;
        // The SDK's test runner sets DOTNET_HOST_PATH to the dotnet executable it runs under.
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dotnet}");
        StandardError = _process.StandardError.ReadToEndAsync();
    }

    public Task<string> StandardError { get; }

    public Process Process => _process;

    /// <summary>The next line of standard output, or null at its end; fails after the deadline.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan deadline)
    {
        // WaitAsync, not a token on the read: a pending pipe read does not reliably observe cancellation.
        try
        {
            return await _process.StandardOutput.ReadLineAsync().WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"child printed nothing within {deadline}; stderr so far: {(StandardError.IsCompleted ? StandardError.Result : "(running)")}");
        }
    }

    /// <summary>SIGKILL: the child gets no chance to flush or close anything.</summary>
    public void KillHard()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: false);
        if (!_process.WaitForExit(30_000)) throw new TimeoutException("killed child did not exit within 30 s");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(30_000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
