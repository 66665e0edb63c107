using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Fabric.IntegrationTests.Support;

/// <summary>The result of one `fabric` invocation.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public JsonNode Json => JsonNode.Parse(Stdout) ?? throw new InvalidOperationException("no JSON on stdout: " + Stderr);

    public override string ToString() => $"exit {ExitCode}; stdout: {Stdout.Trim()}; stderr: {Stderr.Trim()}";
}

/// <summary>Runs the real `fabric` CLI (the built fabric.dll) as a process.</summary>
public static class CliRun
{
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, byte[]? stdin = null, IDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Repo.CliDll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["FABRIC_ROOT"] = Repo.Root;
        start.Environment["FABRIC_NODE_DLL"] = Repo.NodeDll;
        if (environment is not null)
        {
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"fabric {string.Join(' ', args)} did not finish; stderr so far: {await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
