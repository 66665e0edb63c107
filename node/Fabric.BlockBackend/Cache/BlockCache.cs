using System.Collections.Concurrent;
using FASTER.core;

namespace Fabric.BlockBackend.Cache;

/// <summary>
/// The node's block cache: one FASTER KV store of 4 KiB blocks keyed by (volume generation, block index),
/// shared by every <see cref="CachedBlockVolume"/> on the node. Hot blocks live in FASTER's in-memory log;
/// colder ones spill to a local log file; the oldest fall off when the file passes
/// <see cref="BlockCacheOptions.DiskBytes"/> (a cache may forget, never lie).
/// </summary>
/// <remarks>
/// FASTER sessions are single-threaded, so operations borrow one from a pool. Dropping a volume's cache
/// is O(1): the volume takes a new generation and its old records become unreachable garbage that ages out
/// of the log like any other record.
/// </remarks>
public sealed class BlockCache : IDisposable
{
    private readonly FasterKV<BlockKey, BlockData> _store;
    private readonly IDevice _device;
    private readonly string _directory;
    private readonly bool _ownsDirectory;
    private readonly long _logLimitBytes;
    private readonly ConcurrentBag<ClientSession<BlockKey, BlockData, BlockData, BlockData, Empty, SimpleFunctions<BlockKey, BlockData, Empty>>> _sessions = new();
    private readonly List<IDisposable> _allSessions = new();
    private long _generation;
    private long _hits;
    private long _misses;
    private long _upserts;
    private int _disposed;

    public BlockCache(BlockCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _ownsDirectory = options.Directory is null;
        _directory = options.Directory ?? Path.Combine(Path.GetTempPath(), "fabric-block-cache-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        _device = Devices.CreateLogDevice(Path.Combine(_directory, "blocks.log"), preallocateFile: false, deleteOnClose: true);
        var settings = new FasterKVSettings<BlockKey, BlockData>(null, logger: null)
        {
            IndexSize = options.IndexBytes,
            LogDevice = _device,
            MemorySize = options.MemoryBytes,
            PageSize = options.PageBytes,
            MutableFraction = 0.9,
            // A block read back from the spill file is hot again: copy it to the tail (memory).
            ReadCopyOptions = new ReadCopyOptions(ReadCopyFrom.Device, ReadCopyTo.MainLog),
            EqualityComparer = new BlockKey(),
        };
        _store = new FasterKV<BlockKey, BlockData>(settings);
        _logLimitBytes = options.MemoryBytes + options.DiskBytes;
    }

    public BlockCacheOptions Options { get; }

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Records in the store (including unreachable ones of dropped generations).</summary>
    public long EntryCount => _store.EntryCount;

    /// <summary>Log bytes in memory and on disk.</summary>
    public long LogBytes => _store.Log.TailAddress - _store.Log.BeginAddress;

    /// <summary>A fresh generation: keys under it are disjoint from every earlier one.</summary>
    internal long NewGeneration() => Interlocked.Increment(ref _generation);

    private ClientSession<BlockKey, BlockData, BlockData, BlockData, Empty, SimpleFunctions<BlockKey, BlockData, Empty>> Rent()
    {
        if (_sessions.TryTake(out var session))
        {
            return session;
        }
        session = _store.For(new SimpleFunctions<BlockKey, BlockData, Empty>()).NewSession<SimpleFunctions<BlockKey, BlockData, Empty>>();
        lock (_allSessions)
        {
            _allSessions.Add(session);
        }
        return session;
    }

    private void Return(ClientSession<BlockKey, BlockData, BlockData, BlockData, Empty, SimpleFunctions<BlockKey, BlockData, Empty>> session) => _sessions.Add(session);

    /// <summary>Copies a cached block into <paramref name="destination"/> (4096 bytes); false on a miss.</summary>
    /// <remarks>Synchronous: a hit in memory is a hash lookup and a copy; a block in the spill file is read with
    /// FASTER's pending-completion path, blocking this thread for one local read.</remarks>
    internal bool TryRead(long generation, long block, Span<byte> destination)
    {
        var session = Rent();
        try
        {
            var key = new BlockKey(generation, block);
            BlockData input = default;
            BlockData output = default;
            var status = session.Read(ref key, ref input, ref output);
            if (status.IsPending)
            {
                session.CompletePendingWithOutputs(out var completed, wait: true);
                using (completed)
                {
                    status = default;
                    while (completed.Next())
                    {
                        status = completed.Current.Status;
                        output = completed.Current.Output;
                    }
                }
            }
            if (!status.Found)
            {
                Interlocked.Increment(ref _misses);
                return false;
            }
            BlockData.AsBytes(ref output).CopyTo(destination);
            Interlocked.Increment(ref _hits);
            return true;
        }
        finally
        {
            Return(session);
        }
    }

    internal void Put(long generation, long block, ReadOnlySpan<byte> data)
    {
        System.Diagnostics.Debug.Assert(data.Length == BlockData.Bytes);
        var session = Rent();
        try
        {
            var key = new BlockKey(generation, block);
            BlockData value = default;
            data.CopyTo(BlockData.AsBytes(ref value));
            session.Upsert(ref key, ref value);
        }
        finally
        {
            Return(session);
        }
        if ((Interlocked.Increment(ref _upserts) & 1023) == 0)
        {
            TrimLog();
        }
    }

    internal void Remove(long generation, long block)
    {
        var session = Rent();
        try
        {
            var key = new BlockKey(generation, block);
            session.Delete(ref key);
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>Forgets the oldest records once the log outgrows memory + disk budget.</summary>
    private void TrimLog()
    {
        long tail = _store.Log.TailAddress;
        long begin = _store.Log.BeginAddress;
        if (tail - begin > _logLimitBytes)
        {
            long until = Math.Min(tail - _logLimitBytes + (_logLimitBytes / 8), _store.Log.HeadAddress);
            if (until > begin)
            {
                _store.Log.ShiftBeginAddress(until, snapToPageStart: true, truncateLog: true);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        lock (_allSessions)
        {
            foreach (var s in _allSessions)
            {
                s.Dispose();
            }
        }
        _store.Dispose();
        _device.Dispose();
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
