using Fabric.Config.Model;

namespace Fabric.Cli.Local;

/// <summary>
/// The etcd `fabric up` starts for a config with HA monitors (`[cluster.etcd]`) whose first endpoint is
/// on this machine: one member, data in $FABRIC_HOME/etcd. An etcd that already answers there is used
/// as it is.
/// </summary>
public static class EtcdProcess
{
    public const string Name = "etcd";
    public const string Binary = "/usr/bin/etcd";

    public static async Task EnsureAsync(ClusterConfig config, LocalProcesses processes, Output.Output output, CancellationToken cancellationToken)
    {
        if (config.Cluster.Etcd is not { } etcd) return;
        var endpoint = etcd.Endpoints[0];
        if (!endpoint.IsLoopback)
        {
            output.Note($"etcd at {endpoint} is not on this machine: using it as it is");
            return;
        }
        if (processes.RunningPid(Name) is not null || await AnswersAsync(endpoint, cancellationToken).ConfigureAwait(false)) return;
        if (!File.Exists(Binary))
        {
            throw new CliException($"the config keeps the map in etcd at {endpoint}, but {Binary} is missing: apt-get install etcd-server");
        }
        var client = endpoint.GetLeftPart(UriPartial.Authority);
        var peer = $"http://{endpoint.Host}:{endpoint.Port + 1}";
        var dataDir = Path.Combine(processes.Home, "etcd");
        var pid = processes.StartDetached(Name, Binary,
        [
            "--name", "fabric", "--data-dir", dataDir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", $"fabric={peer}", "--initial-cluster-state", "new", "--log-level", "warn",
        ]);
        output.Note($"started etcd (pid {pid}) on {client}, data in {dataDir}");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await AnswersAsync(endpoint, cancellationToken).ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline) throw new CliException($"etcd did not answer on {client} within 30 s; see {processes.LogFile(Name)}");
            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<bool> AnswersAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        try
        {
            using var response = await http.GetAsync(new Uri(endpoint, "/health"), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
