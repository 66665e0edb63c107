// A failure reported by RocksDB itself. Message keeps RocksDB's own text verbatim (for example
// "IO error: While lock file: /var/lib/fabric/osd.0/LOCK: Resource temporarily unavailable") and
// names the database it came from, so an operator can act on it without a debugger.
namespace Fabric.RocksDb;

public sealed class RocksDbException : Exception
{
    private static readonly (string Prefix, RocksDbErrorKind Kind)[] Prefixes =
    [
        ("NotFound", RocksDbErrorKind.NotFound),
        ("Corruption", RocksDbErrorKind.Corruption),
        ("Not implemented", RocksDbErrorKind.NotSupported),
        ("Invalid argument", RocksDbErrorKind.InvalidArgument),
        ("IO error", RocksDbErrorKind.IOError),
        ("Resource busy", RocksDbErrorKind.Busy),
        ("Operation timed out", RocksDbErrorKind.TimedOut),
        ("Operation aborted", RocksDbErrorKind.Aborted),
        ("Result incomplete", RocksDbErrorKind.Incomplete),
        ("Shutdown in progress", RocksDbErrorKind.ShutdownInProgress),
        ("Operation failed. Try again.", RocksDbErrorKind.TryAgain),
        ("Column family dropped", RocksDbErrorKind.ColumnFamilyDropped),
    ];

    public RocksDbException(string rocksDbMessage, string? databasePath)
        : base(databasePath is null ? rocksDbMessage : $"{rocksDbMessage} (database {databasePath})")
    {
        RocksDbMessage = rocksDbMessage;
        DatabasePath = databasePath;
        Kind = Classify(rocksDbMessage);
    }

    /// <summary>RocksDB's error text exactly as the C API returned it.</summary>
    public string RocksDbMessage { get; }

    /// <summary>The database directory the failing call was about, when there is one.</summary>
    public string? DatabasePath { get; }

    public RocksDbErrorKind Kind { get; }

    private static RocksDbErrorKind Classify(string message)
    {
        foreach (var (prefix, kind) in Prefixes)
        {
            if (message.StartsWith(prefix, StringComparison.Ordinal)) return kind;
        }
        return RocksDbErrorKind.Unknown;
    }
}
