using System.Diagnostics;
using Fabric.BlockBackend.VhostUser;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Vm;

namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>
/// A test block backend: volumes are raw files in a directory; each export serves the file on its own unix
/// socket (one per QEMU, like the real backend: a migration destination gets its own): vhost-user-blk by our
/// own server in this process (as the node does), NBD by a qemu-storage-daemon. Not qemu-storage-daemon for
/// vhost-user-blk: the 7.2 one here writes a completion to a call eventfd it has closed when QEMU stops the
/// rings with writes in flight (any pause, the stop of a migration's switch-over), panics and leaves the guest's
/// disk hung (VhostUserGuestTests has the pause test our server passes). Volume locks live in one table shared by
/// every runtime that uses this instance (standing in for the cluster map), with a journal of lock
/// operations for the tests to check the switch-over order.
/// </summary>
public sealed class TestVmDisks : IVmDisks, IAsyncDisposable
{
    private readonly string _volumeDir;
    private readonly string _socketDir;
    private readonly object _gate = new();
    private readonly Dictionary<string, string> _lockHolder = new(); // volume -> export id
    private readonly Dictionary<string, Export> _exports = new();
    private readonly Dictionary<int, Process> _daemons = new();
    private readonly Dictionary<string, (VhostUserBlkServer Server, FileBlockVolume Volume)> _servers = new();
    private int _seq;

    public TestVmDisks(string volumeDir, string socketDir)
    {
        _volumeDir = volumeDir;
        _socketDir = socketDir;
        Directory.CreateDirectory(volumeDir);
        Directory.CreateDirectory(socketDir);
    }

    private sealed record Export(string Id, string Volume, string Transport, int Pid, string Socket);

    public List<string> Journal { get; } = new();

    public string CreateVolume(string name, long sizeBytes)
    {
        var path = VolumePath(name);
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(sizeBytes);
        return path;
    }

    public string VolumePath(string name) => Path.Combine(_volumeDir, name + ".img");

    public IReadOnlyCollection<string> ExportIds { get { lock (_gate) return _exports.Keys.ToList(); } }

    public string? LockHolder(string volume) { lock (_gate) return _lockHolder.GetValueOrDefault(volume); }

    public async ValueTask<DiskExportResult> ExportAsync(DiskExportRequest request, CancellationToken cancellationToken)
    {
        var file = VolumePath(request.VolumeName);
        if (!File.Exists(file)) return new DiskExportResult(null, null, $"volume '{request.VolumeName}' does not exist");
        lock (_gate)
        {
            if (_exports.ContainsKey(request.ExportId)) return new DiskExportResult(null, null, $"export {request.ExportId} exists already");
            if (request.TakeLock)
            {
                if (_lockHolder.TryGetValue(request.VolumeName, out var holder))
                {
                    return new DiskExportResult(null, null, $"volume '{request.VolumeName}' is locked by {holder}: it is in use by another VM");
                }
                _lockHolder[request.VolumeName] = request.ExportId;
                Journal.Add($"lock {request.VolumeName} {request.ExportId}");
            }
        }
        var n = Interlocked.Increment(ref _seq);
        var socket = Path.Combine(_socketDir, $"e{n}.sock");
        if (request.Transport != "nbd")
        {
            var volume = FileBlockVolume.Open(file, request.VolumeName, readOnly: request.ReadOnly);
            var server = new VhostUserBlkServer(socket, volume, new VhostUserBlkOptions { ReadOnly = request.ReadOnly });
            server.Start();
            lock (_gate)
            {
                _servers[request.ExportId] = (server, volume);
                _exports[request.ExportId] = new Export(request.ExportId, request.VolumeName, request.Transport, 0, socket);
            }
            return new DiskExportResult(socket, null, null);
        }
        var args = new List<string>
        {
            "--blockdev", $"driver=file,node-name=f{n},filename={file},locking=off",
            "--blockdev", $"driver=raw,node-name=d{n},file=f{n}",
            "--nbd-server", $"addr.type=unix,addr.path={socket}",
            "--export", $"type=nbd,id=x{n},node-name=d{n},name={request.VolumeName},writable={(request.ReadOnly ? "off" : "on")}",
        };
        var psi = new ProcessStartInfo("qemu-storage-daemon") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync(CancellationToken.None);
        _ = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        // The socket file appears when the daemon listens on it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.Exists(socket) && !p.HasExited && DateTime.UtcNow < deadline) await Task.Delay(10, cancellationToken);
        if (!File.Exists(socket))
        {
            if (!p.HasExited) p.Kill();
            await p.WaitForExitAsync(CancellationToken.None);
            Unlock(request.VolumeName, request.ExportId);
            return new DiskExportResult(null, null, $"qemu-storage-daemon failed: {(await err).Trim()}");
        }
        var pid = p.Id;
        lock (_gate) _daemons[pid] = p;
        lock (_gate) _exports[request.ExportId] = new Export(request.ExportId, request.VolumeName, request.Transport, pid, socket);
        return new DiskExportResult(socket, request.Transport == "nbd" ? request.VolumeName : null, null);
    }

    public ValueTask<string?> AcquireLockAsync(string exportId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_exports.TryGetValue(exportId, out var e)) return ValueTask.FromResult<string?>($"no export {exportId}");
            if (_lockHolder.TryGetValue(e.Volume, out var holder) && holder != exportId)
            {
                return ValueTask.FromResult<string?>($"volume '{e.Volume}' is locked by {holder}");
            }
            _lockHolder[e.Volume] = exportId;
            Journal.Add($"lock {e.Volume} {exportId}");
            return ValueTask.FromResult<string?>(null);
        }
    }

    public ValueTask<string?> FlushAndReleaseAsync(string exportId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_exports.TryGetValue(exportId, out var e)) return ValueTask.FromResult<string?>($"no export {exportId}");
            // The daemon writes through to the file; the page cache is shared with the next daemon.
            if (_lockHolder.TryGetValue(e.Volume, out var holder) && holder == exportId)
            {
                _lockHolder.Remove(e.Volume);
                Journal.Add($"unlock {e.Volume} {exportId}");
            }
            return ValueTask.FromResult<string?>(null);
        }
    }

    public async ValueTask RemoveAsync(string exportId, CancellationToken cancellationToken)
    {
        Export? e;
        lock (_gate)
        {
            if (!_exports.Remove(exportId, out e)) return;
        }
        Unlock(e.Volume, exportId);
        (VhostUserBlkServer Server, FileBlockVolume Volume) served;
        bool inProcess;
        lock (_gate) inProcess = _servers.Remove(exportId, out served);
        if (inProcess)
        {
            await served.Server.DisposeAsync();
            await served.Volume.DisposeAsync();
        }
        else
        {
            await StopDaemonAsync(e.Pid);
        }
        File.Delete(e.Socket);
    }

    private void Unlock(string volume, string exportId)
    {
        lock (_gate)
        {
            if (_lockHolder.TryGetValue(volume, out var holder) && holder == exportId)
            {
                _lockHolder.Remove(volume);
                Journal.Add($"unlock {volume} {exportId}");
            }
        }
    }

    private async Task StopDaemonAsync(int pid)
    {
        Process? p;
        lock (_gate) _daemons.Remove(pid, out p);
        if (p is null) return;
        if (!p.HasExited) p.Kill();
        await p.WaitForExitAsync(CancellationToken.None);
        p.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        List<string> ids;
        lock (_gate) ids = _exports.Keys.ToList();
        foreach (var id in ids) await RemoveAsync(id, CancellationToken.None);
    }
}
