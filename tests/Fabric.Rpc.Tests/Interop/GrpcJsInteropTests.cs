using Fabric.Rpc.Tests.Support;
using Xunit.Abstractions;

namespace Fabric.Rpc.Tests.Interop;

/// <summary>
/// A gRPC client nobody here wrote: @grpc/grpc-js (pinned in interop/package.json) loads tester.proto
/// with @grpc/proto-loader and calls our server: unary with metadata, server stream, an error status
/// (code, unicode message, trailer), a deadline the server overruns, client stream, bidi, UNIMPLEMENTED.
/// </summary>
public sealed class GrpcJsInteropTests(ITestOutputHelper output)
{
    private static readonly string[] Checks = ["unary", "server_stream", "error_status", "deadline", "client_stream", "bidi", "unimplemented"];

    [RequiresFact("node", "apt-get install nodejs npm")]
    public async Task Grpc_js_calls_our_server()
    {
        string node = ExternalProcess.Which("node") ?? throw new InvalidOperationException("node is not installed: apt-get install nodejs npm");
        string interop = Path.Combine(ExternalProcess.RepoRoot, "tests", "Fabric.Rpc.Tests", "interop");
        await EnsureNodeModulesAsync(interop);
        await using TestServer server = await TestServer.StartAsync();
        string proto = Path.Combine(ExternalProcess.RepoRoot, "tests", "Fabric.Rpc.Tests", "Protos", "tester.proto");

        ExternalProcess.Result result = await ExternalProcess.RunAsync(node, ["client.js", server.Endpoint.Port.ToString(), proto], interop, TimeSpan.FromSeconds(60));
        output.WriteLine(result.Stdout);
        output.WriteLine(result.Stderr);

        string[] lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string check in Checks)
        {
            Assert.Contains(lines, l => l.StartsWith($"ok {check} ", StringComparison.Ordinal));
        }

        Assert.Contains("done 0", lines);
        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("cancelled:", await Wait.For(server.Service.Outcome("js-deadline").Task, "the handler to see grpc-js's deadline"));
    }

    private async Task EnsureNodeModulesAsync(string interop)
    {
        if (Directory.Exists(Path.Combine(interop, "node_modules", "@grpc", "grpc-js")))
        {
            return;
        }

        string npm = ExternalProcess.Which("npm") ?? throw new InvalidOperationException(
            $"{interop}/node_modules is missing and npm is not installed: apt-get install npm, then run npm install there (./test.sh does).");
        ExternalProcess.Result install = await ExternalProcess.RunAsync(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"], interop, TimeSpan.FromMinutes(5));
        output.WriteLine(install.Stdout + install.Stderr);
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"npm install in {interop} failed ({install.ExitCode}): {install.Stderr}");
        }
    }
}
