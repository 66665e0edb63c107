using System.Diagnostics;
using Fabric.BlockBackend.Native;
using Fabric.Core.Io;
using Microsoft.Win32.SafeHandles;

namespace Fabric.BlockBackend.Volumes;

/// <summary>
/// Group commit for one file: callers ask for durability, a dedicated thread runs fdatasync and completes
/// every caller that asked before that fdatasync started. A blocking fdatasync never runs on a thread-pool
/// thread (on two CPUs that starves the pool), and N concurrent flushes cost one sync, not N.
/// </summary>
internal sealed class FileSyncer : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly string _name;
    private readonly object _gate = new();
    private List<TaskCompletionSource<BlockIoStatus>> _waiting = new();
    private List<TaskCompletionSource<BlockIoStatus>> _spare = new();
    private readonly Thread _thread;
    private bool _stopping;

    public FileSyncer(SafeFileHandle handle, string name)
    {
        _handle = handle;
        _name = name;
        _thread = new Thread(Run) { IsBackground = true, Name = $"fsync {name}" };
        _thread.Start();
    }

    /// <summary>Completes when every write that completed before this call is on stable storage.</summary>
    public Task<BlockIoStatus> SyncAsync()
    {
        var waiter = new TaskCompletionSource<BlockIoStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_stopping)
            {
                return Task.FromResult(BlockIoStatus.Cancelled);
            }
            _waiting.Add(waiter);
            Monitor.Pulse(_gate);
        }
        return waiter.Task;
    }

    private void Run()
    {
        while (true)
        {
            List<TaskCompletionSource<BlockIoStatus>> batch;
            lock (_gate)
            {
                while (_waiting.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }
                if (_waiting.Count == 0 && _stopping)
                {
                    return;
                }
                batch = _waiting;
                _waiting = _spare;
                _spare = batch;
            }
            BlockIoStatus status = BlockIoStatus.Ok;
            if (_handle.IsClosed)
            {
                status = BlockIoStatus.Cancelled;
            }
            else if (Libc.FdataSync(_handle.DangerousGetHandle()) != 0)
            {
                Debug.WriteLine($"fdatasync {_name}: {Libc.ErrorText(Libc.LastError)}");
                status = BlockIoStatus.IoError;
            }
            foreach (var waiter in batch)
            {
                waiter.TrySetResult(status);
            }
            batch.Clear();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread.Join();
    }
}
