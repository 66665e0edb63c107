using System.Diagnostics;
using System.Text;

namespace Fabric.Rpc.Tests.Support;

/// <summary>Runs and cleans up the processes the interop tests need (node, npm, etcd).</summary>
public static class ExternalProcess
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The repository root (the folder with Fabric.sln), found from the test binaries.</summary>
    public static string RepoRoot
    {
        get
        {
            for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Fabric.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new InvalidOperationException($"No Fabric.sln above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>The full path of a command on PATH, or null.</summary>
    public static string? Which(string command)
    {
        if (Path.IsPathRooted(command))
        {
            return File.Exists(command) ? command : null;
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs a command to completion; kills its process tree when it overruns <paramref name="timeout"/>.</summary>
    public static async Task<Result> RunAsync(string file, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        using Process process = Start(file, arguments, workingDirectory, out StringBuilder stdout, out StringBuilder stderr);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} ran over {timeout}.\nstdout: {stdout}\nstderr: {stderr}");
        }

        process.WaitForExit(); // flush the output readers
        return new Result(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    public static Process Start(string file, IEnumerable<string> arguments, string workingDirectory, out StringBuilder stdout, out StringBuilder stderr)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        var output = new StringBuilder();
        var errors = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (errors) { errors.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        stdout = output;
        stderr = errors;
        return process;
    }

    /// <summary>A free TCP port on loopback (bound and released; the window for a collision is tiny).</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
