// A consistent, read-only view of a RocksDatabase as of the moment it was taken: reads and
// iterators given this snapshot see neither later writes nor later deletes. Dispose releases it
// (RocksDB keeps every version a live snapshot can see, so long-lived snapshots cost space).
// Disposing the database releases its snapshots first; a released snapshot throws
// ObjectDisposedException when used.
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed class RocksDbSnapshot : IDisposable
{
    internal RocksDbSnapshot(RocksDatabase database, SnapshotHandle handle)
    {
        Database = database;
        Handle = handle;
        try
        {
            ReadOptions = new ReadOptionsHandle(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public RocksDatabase Database { get; }

    internal SnapshotHandle Handle { get; }

    /// <summary>Point-read options bound to this snapshot (they hold a reference on it).</summary>
    internal ReadOptionsHandle ReadOptions { get; }

    public bool IsDisposed => Handle.IsClosed;

    public void Dispose()
    {
        // Order does not matter for safety (the options hold a reference on the snapshot), but
        // disposing the options first lets the snapshot be released right now.
        ReadOptions.Dispose();
        Handle.Dispose();
        Database.Untrack(this);
    }
}
