using System.Diagnostics;
using System.Text;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>Runs a tool to completion with a deadline; kills it (and fails) when the deadline passes.</summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string All => Stdout + Stderr;
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, TimeSpan? timeout = null, ITestOutputHelper? output = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        output?.WriteLine($"$ {file} {string.Join(' ', psi.ArgumentList.Select(a => a.Contains(' ') ? $"'{a}'" : a))}");
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{file} did not finish within the deadline");
        }
        var result = new Result(process.ExitCode, await stdout, await stderr);
        output?.WriteLine(Truncate(result.All));
        return result;
    }

    private static string Truncate(string s) => s.Length <= 4000 ? s : s[..4000] + "...";
}
