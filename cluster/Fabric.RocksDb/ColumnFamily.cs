// A column family of one open RocksDatabase: a named, independently configured key space that
// shares the DB's WAL, so one write batch can change several column families atomically. The
// database owns the native handle; a ColumnFamily stops working (ObjectDisposedException) when it
// is dropped or when its database is disposed.
using Fabric.RocksDb.Native;

namespace Fabric.RocksDb;

public sealed class ColumnFamily
{
    internal ColumnFamily(RocksDatabase database, string name, ColumnFamilyHandle handle)
    {
        Database = database;
        Name = name;
        Handle = handle;
    }

    public RocksDatabase Database { get; }

    public string Name { get; }

    /// <summary>True once the column family was dropped or its database disposed.</summary>
    public bool IsClosed => Handle.IsClosed;

    internal ColumnFamilyHandle Handle { get; }

    public override string ToString() => $"{Name} ({Database.Path})";
}
