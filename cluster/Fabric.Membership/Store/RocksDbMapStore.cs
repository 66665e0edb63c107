using System.Buffers.Binary;
using System.Text;
using Fabric.Proto;
using Fabric.RocksDb;
using Google.Protobuf;

namespace Fabric.Membership.Store;

/// <summary>
/// The embedded monitor's map store: every epoch's map and the applied request ids in RocksDB, written
/// with sync so a committed epoch survives a crash of the node.
/// </summary>
/// <remarks>
/// Layout (default column family): <c>m/&lt;epoch as 8 big-endian bytes&gt;</c> → serialized map (so
/// keys sort by epoch and the newest is the last key); <c>r/&lt;request id&gt;</c> → epoch. Only one
/// process opens the database (RocksDB's lock file), so compare-and-swap is a check under a local lock
/// followed by one synced write batch. The history keeps the newest <see cref="RetainEpochs"/> maps.
/// </remarks>
public sealed class RocksDbMapStore : IMapStore
{
    public const int RetainEpochs = 2000;

    private static readonly byte[] MapPrefix = "m/"u8.ToArray();
    private static readonly byte[] RequestPrefix = "r/"u8.ToArray();

    private readonly object _gate = new();
    private readonly RocksDatabase _db;
    private ulong _latestEpoch;

    private RocksDbMapStore(RocksDatabase db)
    {
        _db = db;
        _latestEpoch = ReadLatestEpoch();
    }

    public string Kind => "embedded";

    public static RocksDbMapStore Open(string directory)
    {
        var db = RocksDatabase.Open(directory, new RocksDbOptions { Compression = RocksDbCompression.None, WriteBufferSizeBytes = 8L << 20, BlockCacheSizeBytes = 8L << 20 });
        return new RocksDbMapStore(db);
    }

    private static byte[] MapKey(ulong epoch)
    {
        var key = new byte[MapPrefix.Length + 8];
        MapPrefix.CopyTo(key, 0);
        BinaryPrimitives.WriteUInt64BigEndian(key.AsSpan(MapPrefix.Length), epoch);
        return key;
    }

    private static byte[] RequestKey(string requestId)
    {
        var id = Encoding.UTF8.GetBytes(requestId);
        var key = new byte[RequestPrefix.Length + id.Length];
        RequestPrefix.CopyTo(key, 0);
        id.CopyTo(key, RequestPrefix.Length);
        return key;
    }

    private ulong ReadLatestEpoch()
    {
        using var iterator = _db.NewIterator(_db.DefaultColumnFamily, new IteratorOptions { LowerBound = MapKey(0), UpperBound = MapKey(ulong.MaxValue) });
        iterator.SeekToLast();
        if (!iterator.Valid) return 0;
        return BinaryPrimitives.ReadUInt64BigEndian(iterator.Key[MapPrefix.Length..]);
    }

    public Task<ClusterMap?> LoadLatestAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_latestEpoch == 0 ? null : Load(_latestEpoch));
        }
    }

    public Task<ClusterMap?> LoadAsync(ulong epoch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(Load(epoch));
        }
    }

    private ClusterMap? Load(ulong epoch)
    {
        var bytes = _db.Get(MapKey(epoch));
        return bytes is null ? null : ClusterMap.Parser.ParseFrom(bytes);
    }

    public Task<MapCommitResult> CommitAsync(ClusterMap next, string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (requestId.Length > 0 && _db.Get(RequestKey(requestId)) is { } applied)
            {
                return Task.FromResult(new MapCommitResult(MapCommitOutcome.DuplicateRequest, BinaryPrimitives.ReadUInt64BigEndian(applied)));
            }
            if (next.Epoch != _latestEpoch + 1) return Task.FromResult(new MapCommitResult(MapCommitOutcome.EpochConflict, _latestEpoch));
            using var batch = new WriteBatch();
            batch.Put(_db.DefaultColumnFamily, MapKey(next.Epoch), next.ToByteArray());
            if (requestId.Length > 0)
            {
                var epochBytes = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(epochBytes, next.Epoch);
                batch.Put(_db.DefaultColumnFamily, RequestKey(requestId), epochBytes);
            }
            if (next.Epoch > RetainEpochs)
            {
                // Trim the oldest maps; request ids stay (they are small and make retries safe forever).
                batch.DeleteRange(_db.DefaultColumnFamily, MapKey(0), MapKey(next.Epoch - RetainEpochs));
            }
            _db.Write(batch, sync: true);
            _latestEpoch = next.Epoch;
            return Task.FromResult(new MapCommitResult(MapCommitOutcome.Committed, next.Epoch));
        }
    }

    public Task<ulong?> FindRequestAsync(string requestId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var bytes = _db.Get(RequestKey(requestId));
            return Task.FromResult(bytes is null ? null : (ulong?)BinaryPrimitives.ReadUInt64BigEndian(bytes));
        }
    }

    public ValueTask DisposeAsync()
    {
        _db.Dispose();
        return ValueTask.CompletedTask;
    }
}
