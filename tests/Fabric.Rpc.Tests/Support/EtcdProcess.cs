using System.Diagnostics;
using System.Text;
using Fabric.Rpc.Client;
using Fabric.Rpc.Methods;
using Fabric.Rpc.Protocol;
using Fabric.Proto.Etcd;

namespace Fabric.Rpc.Tests.Support;

/// <summary>A real single-member etcd on free loopback ports with a temporary data dir; killed and removed on dispose.</summary>
public sealed class EtcdProcess : IAsyncDisposable
{
    public const string Binary = "/usr/bin/etcd";

    public static readonly RpcMethod<RangeRequest, RangeResponse> Range = RpcMethod.From<RangeRequest, RangeResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Range");
    public static readonly RpcMethod<PutRequest, PutResponse> Put = RpcMethod.From<PutRequest, PutResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Put");
    public static readonly RpcMethod<TxnRequest, TxnResponse> Txn = RpcMethod.From<TxnRequest, TxnResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "Txn");
    public static readonly RpcMethod<DeleteRangeRequest, DeleteRangeResponse> DeleteRange = RpcMethod.From<DeleteRangeRequest, DeleteRangeResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.KV", "DeleteRange");
    public static readonly RpcMethod<LeaseGrantRequest, LeaseGrantResponse> LeaseGrant = RpcMethod.From<LeaseGrantRequest, LeaseGrantResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseGrant");
    public static readonly RpcMethod<LeaseRevokeRequest, LeaseRevokeResponse> LeaseRevoke = RpcMethod.From<LeaseRevokeRequest, LeaseRevokeResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseRevoke");
    public static readonly RpcMethod<LeaseKeepAliveRequest, LeaseKeepAliveResponse> LeaseKeepAlive = RpcMethod.From<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Lease", "LeaseKeepAlive");
    public static readonly RpcMethod<WatchRequest, WatchResponse> Watch = RpcMethod.From<WatchRequest, WatchResponse>(EtcdKvReflection.Descriptor, "etcdserverpb.Watch", "Watch");

    private readonly Process _process;
    private readonly string _dataDir;
    private readonly StringBuilder _stderr;

    private EtcdProcess(Process process, string dataDir, int clientPort, StringBuilder stderr)
    {
        _process = process;
        _dataDir = dataDir;
        _stderr = stderr;
        Target = $"127.0.0.1:{clientPort}";
    }

    public string Target { get; }

    public string Log => _stderr.ToString();

    public static async Task<EtcdProcess> StartAsync()
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: apt-get install etcd-server (listed in .ci/packages.sh).");
        }

        string dataDir = Path.Combine(Path.GetTempPath(), "fabric-rpc-etcd-" + Guid.NewGuid().ToString("N"));
        int clientPort = ExternalProcess.FreePort();
        int peerPort = ExternalProcess.FreePort();
        string client = $"http://127.0.0.1:{clientPort}";
        string peer = $"http://127.0.0.1:{peerPort}";
        Process process = ExternalProcess.Start(Binary,
        [
            "--name", "fabric-test", "--data-dir", dataDir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"fabric-test={peer}", "--initial-cluster-state", "new",
            "--log-level", "warn",
        ], Path.GetTempPath(), out _, out StringBuilder stderr);
        var etcd = new EtcdProcess(process, dataDir, clientPort, stderr);
        try
        {
            await etcd.WaitReadyAsync();
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }

        return etcd;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        finally
        {
            _process.Dispose();
            if (Directory.Exists(_dataDir))
            {
                Directory.Delete(_dataDir, recursive: true);
            }
        }
    }

    /// <summary>Until a linearizable Range answers: the server is up and has a leader.</summary>
    private async Task WaitReadyAsync()
    {
        using var channel = new RpcChannel(Target, new RpcChannelOptions { ConnectTimeout = TimeSpan.FromSeconds(1) });
        DateTime giveUp = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"etcd exited with {_process.ExitCode}: {Log}");
            }

            try
            {
                await channel.UnaryAsync(Range, new RangeRequest { Key = Google.Protobuf.ByteString.CopyFromUtf8("ready") },
                    CallOptions.WithTimeout(TimeSpan.FromSeconds(2)));
                return;
            }
            catch (RpcException e) when (DateTime.UtcNow < giveUp && e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                await Task.Delay(100);
            }
        }
    }
}
