using System.Buffers;
using Fabric.Client.Objects;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Proto;

namespace Fabric.Client.Volumes;

/// <summary>
/// A volume opened for I/O on top of the object client (RBD-like): the volume is striped into objects
/// of <c>object_size</c> bytes named <c>v&lt;id&gt;.&lt;index:x16&gt;</c>; a request is split at object
/// boundaries and the pieces run in parallel; unwritten ranges read as zeros (objects that do not exist
/// read as zeros at the OSD); at most <see cref="MaxInFlight"/> object ops are outstanding per volume.
/// </summary>
/// <remarks>
/// <para>Every acknowledged write is durable on every acting replica (the OSDs acknowledge only then), so
/// <see cref="FlushAsync"/> has nothing left to wait for. Requests past the end of the volume fail with
/// <see cref="BlockIoStatus.OutOfRange"/>; the size follows the map (resize).</para>
/// <para>Snapshots: every write carries the volume's snapshot context from the newest map, so the OSDs
/// copy on write; <c>Open(cluster, "VOL@SNAP")</c> opens a snapshot read-only; <see cref="RollbackAsync"/>
/// makes the head what a snapshot holds.</para>
/// <para>Clones (the volume has a parent snapshot): reads of objects the clone never wrote fall through
/// to the parent snapshot (up to the overlap, and on through the parent's own parent); the first write
/// to such an object copies the parent's data up into it first (the OSD refuses the write with
/// NO_OBJECT until then, so two writers never copy up over each other's data); <see cref="FlattenAsync"/>
/// copies up everything and detaches the clone.</para>
/// <para>Exclusive lock: <see cref="AcquireLockAsync"/> takes the volume's lock through the monitor;
/// every write then carries the lock's epoch and the OSDs refuse writes that do not match the lock in
/// their map (<see cref="BlockIoStatus.Fenced"/>). A client that sees in its map that it lost the lock
/// fails writes at once.</para>
/// </remarks>
public sealed class VolumeClient : IBlockVolume
{
    public const uint DefaultObjectSize = 4u << 20;
    private const int MaxCopyUpAttempts = 4;

    private readonly ClusterClient _cluster;
    private readonly ObjectClient _objects;
    private readonly SemaphoreSlim _slots;
    private readonly ulong _volumeId;
    private readonly uint _pool;
    private readonly uint _objectSize;
    private View _view;

    private VolumeClient(ClusterClient cluster, VolumeInfo volume, ulong snapId, string name, bool readOnly, int maxInFlight)
    {
        _cluster = cluster;
        _objects = cluster.Objects;
        _volumeId = volume.Id;
        _pool = volume.PoolId;
        _objectSize = volume.ObjectSizeBytes == 0 ? DefaultObjectSize : volume.ObjectSizeBytes;
        SnapId = snapId;
        Name = name;
        ReadOnly = readOnly || snapId != 0;
        MaxInFlight = maxInFlight;
        _slots = new SemaphoreSlim(maxInFlight, maxInFlight);
        _view = View.Build(cluster.Map, volume.Id, snapId);
    }

    public string Name { get; }

    public ulong VolumeId => _volumeId;

    public int MaxInFlight { get; }

    public uint ObjectSize => _objectSize;

    /// <summary>The snapshot this client reads (0 = the head, writable).</summary>
    public ulong SnapId { get; }

    /// <summary>The client identity writes carry (the lock owner when it holds the lock).</summary>
    public string Identity => _objects.Identity;

    /// <summary>The acquired epoch of the volume lock this client holds, 0 when it holds none.</summary>
    public ulong LockEpoch { get; private set; }

    public long SizeBytes => (long)CurrentView().SizeBytes;

    public int LogicalBlockSize => 512;

    public bool ReadOnly { get; }

    /// <summary>False: every write completes only once durable on every replica of its object.</summary>
    public bool VolatileWriteCache => false;

    /// <summary>
    /// Opens a volume by name from the client's newest map ("VOL@SNAP" opens a snapshot, read-only);
    /// null with a reason when it does not exist.
    /// </summary>
    public static VolumeClient? Open(ClusterClient cluster, string name, out string? error, bool readOnly = false, int maxInFlight = 64)
    {
        string volumeName = name;
        string? snapName = null;
        int at = name.IndexOf('@');
        if (at >= 0)
        {
            volumeName = name[..at];
            snapName = name[(at + 1)..];
        }
        VolumeInfo? volume = cluster.Map.FindVolume(volumeName);
        if (volume is null)
        {
            error = $"volume '{volumeName}' does not exist (fabric volume list shows the volumes)";
            return null;
        }
        ulong snapId = 0;
        if (snapName is not null)
        {
            SnapshotInfo? snap = volume.Snapshots.FirstOrDefault(s => s.Name == snapName);
            if (snap is null)
            {
                error = $"snapshot {volumeName}@{snapName} does not exist (fabric volume snap list {volumeName} shows its snapshots)";
                return null;
            }
            snapId = snap.Id;
        }
        error = null;
        return new VolumeClient(cluster, volume, snapId, name, readOnly, maxInFlight);
    }

    public static string ObjectName(ulong volumeId, ulong index) => VolumeObjectName.Format(volumeId, index);

    public ValueTask<BlockIoStatus> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken) =>
        RunAsync(offset, destination.Length, OsdOpKind.OsdOpRead, default, destination, cancellationToken);

    public ValueTask<BlockIoStatus> WriteAsync(long offset, ReadOnlyMemory<byte> source, bool fua, CancellationToken cancellationToken) =>
        ReadOnly ? ValueTask.FromResult(BlockIoStatus.ReadOnly) : RunAsync(offset, source.Length, OsdOpKind.OsdOpWrite, source, default, cancellationToken);

    public ValueTask<BlockIoStatus> FlushAsync(CancellationToken cancellationToken) => ValueTask.FromResult(BlockIoStatus.Ok);

    public ValueTask<BlockIoStatus> DiscardAsync(long offset, long length, CancellationToken cancellationToken) => ZeroAsync(offset, length, cancellationToken);

    public ValueTask<BlockIoStatus> WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken) => ZeroAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // ---- exclusive lock ----

    /// <summary>
    /// Takes the volume's exclusive lock for this client's identity through the monitor and waits until
    /// this client's map has it. Fails (with the monitor's reason) when another owner holds it.
    /// </summary>
    public async Task AcquireLockAsync(Func<MapTransaction, CancellationToken, Task<ulong>> propose, string description, CancellationToken cancellationToken)
    {
        MapLookup.TryParseNodeIdentity(Identity, out uint nodeId, out _);
        var transaction = new MapTransaction { Reason = $"lock {Name} for {Identity}" };
        transaction.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = VolumeNameOnly, Op = "acquire", Owner = Identity, NodeId = nodeId, Description = description } });
        ulong epoch = await propose(transaction, cancellationToken).ConfigureAwait(false);
        ClusterMap map = await WaitForEpochAsync(epoch, cancellationToken).ConfigureAwait(false);
        VolumeLock? held = map.FindVolume(_volumeId)?.Lock;
        if (held is null || held.Owner != Identity)
        {
            throw new InvalidOperationException($"volume {Name}: the lock is held by {held?.Owner ?? "nobody"} after acquiring it at epoch {epoch}");
        }
        LockEpoch = held.AcquiredEpoch;
    }

    /// <summary>Releases the lock this client holds (no-op when it holds none).</summary>
    public async Task ReleaseLockAsync(Func<MapTransaction, CancellationToken, Task<ulong>> propose, CancellationToken cancellationToken)
    {
        if (LockEpoch == 0)
        {
            return;
        }
        var transaction = new MapTransaction { Reason = $"unlock {Name} by {Identity}" };
        transaction.Changes.Add(new MapChange { VolumeLock = new VolumeLockChange { Volume = VolumeNameOnly, Op = "release", Owner = Identity } });
        ulong epoch = await propose(transaction, cancellationToken).ConfigureAwait(false);
        LockEpoch = 0;
        await WaitForEpochAsync(epoch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Uses a lock this identity already holds in the map (after a restart of the holder process, or a transfer).</summary>
    public bool AdoptLock()
    {
        VolumeLock? held = _cluster.Map.FindVolume(_volumeId)?.Lock;
        if (held is null || held.Owner != Identity)
        {
            return false;
        }
        LockEpoch = held.AcquiredEpoch;
        return true;
    }

    /// <summary>
    /// Fail writes at once when this client's map says the lock moved on (default). Off, writes still go
    /// out with the old lock epoch and the OSDs refuse them: fencing drills and tests use that.
    /// </summary>
    public bool LocalLockCheck { get; set; } = true;

    /// <summary>True when the newest map says this client holds the volume's lock.</summary>
    public bool HoldsLock => LockEpoch != 0 && CurrentView().Volume?.Lock is { } held && held.Owner == Identity && held.AcquiredEpoch == LockEpoch;

    /// <summary>Completes once this client's map has reached <paramref name="epoch"/>, its object client's included.</summary>
    public async Task<ClusterMap> WaitForEpochAsync(ulong epoch, CancellationToken cancellationToken)
    {
        ClusterMap map = _cluster.Map;
        while (map.Epoch < epoch)
        {
            map = await _cluster.MapSource.WaitForNewerAsync(map.Epoch, cancellationToken).ConfigureAwait(false);
        }
        // The cluster client hands new maps to the object client from its own watch task, maybe a moment after
        // the map source has them: the next op must carry (and so be judged by) at least this epoch, or an OSD
        // still at the older map could refuse a write that the lock change awaited here allows.
        _objects.OnMap(map);
        return map;
    }

    // ---- snapshots and clones ----

    /// <summary>
    /// Rolls the head back to a snapshot, object by object (each becomes what it was then; the rollback is
    /// itself copy-on-write for newer snapshots). Resize to the snapshot's size is the caller's (a map change).
    /// </summary>
    public async Task<BlockIoStatus> RollbackAsync(string snapName, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        if (ReadOnly)
        {
            return BlockIoStatus.ReadOnly;
        }
        View view = CurrentView();
        SnapshotInfo? snap = view.Volume?.Snapshots.FirstOrDefault(s => s.Name == snapName);
        if (snap is null)
        {
            return BlockIoStatus.Invalid;
        }
        ulong objects = (Math.Max(view.SizeBytes, snap.SizeBytes) + _objectSize - 1) / _objectSize;
        return await ForEachObjectAsync(objects, progress, index => ExecutePieceAsync(index, 0, OsdOpKind.OsdOpRollback, default, default, 0, snap.Id, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Flatten: copies up every object the clone still reads from its parent, then detaches it from the
    /// parent in the map. Afterwards the parent snapshot can be unprotected and removed.
    /// </summary>
    public async Task<BlockIoStatus> FlattenAsync(Func<MapTransaction, CancellationToken, Task<ulong>> propose, IProgress<TransferProgress>? progress, CancellationToken cancellationToken)
    {
        if (ReadOnly)
        {
            return BlockIoStatus.ReadOnly;
        }
        View view = CurrentView();
        if (view.Parent is { } parent)
        {
            ulong objects = (parent.Overlap + _objectSize - 1) / _objectSize;
            BlockIoStatus status = await ForEachObjectAsync(objects, progress, async index =>
            {
                ObjectResult stat = await ExecuteAsync(new ObjectRequest { Pool = _pool, Object = ObjectName(_volumeId, index), Kind = OsdOpKind.OsdOpStat }, cancellationToken).ConfigureAwait(false);
                if (stat.Status != ObjectStatus.Ok)
                {
                    return Map(stat.Status);
                }
                return stat.Exists ? BlockIoStatus.Ok : await CopyUpAsync(CurrentView(), index, cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        var transaction = new MapTransaction { Reason = $"flatten {Name}" };
        transaction.Changes.Add(new MapChange { VolumeFlatten = new VolumeFlatten { Volume = VolumeNameOnly } });
        if (view.Parent is not null)
        {
            ulong epoch = await propose(transaction, cancellationToken).ConfigureAwait(false);
            await WaitForEpochAsync(epoch, cancellationToken).ConfigureAwait(false);
        }
        return BlockIoStatus.Ok;
    }

    private string VolumeNameOnly => Name.Contains('@') ? Name[..Name.IndexOf('@')] : Name;

    private async Task<BlockIoStatus> ForEachObjectAsync(ulong objects, IProgress<TransferProgress>? progress, Func<ulong, Task<BlockIoStatus>> action, CancellationToken cancellationToken)
    {
        var running = new List<Task<BlockIoStatus>>();
        long done = 0;
        for (ulong index = 0; index < objects; index++)
        {
            running.Add(action(index));
            if (running.Count >= Math.Max(1, MaxInFlight / 2))
            {
                Task<BlockIoStatus> first = await Task.WhenAny(running).ConfigureAwait(false);
                running.Remove(first);
                BlockIoStatus status = await first.ConfigureAwait(false);
                if (status != BlockIoStatus.Ok)
                {
                    await Task.WhenAll(running).ConfigureAwait(false);
                    return status;
                }
                progress?.Report(new TransferProgress(++done * _objectSize, (long)(objects * _objectSize)));
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
        foreach (BlockIoStatus status in await Task.WhenAll(running).ConfigureAwait(false))
        {
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        progress?.Report(new TransferProgress((long)(objects * _objectSize), (long)(objects * _objectSize)));
        return BlockIoStatus.Ok;
    }

    // ---- I/O ----

    private ValueTask<BlockIoStatus> ZeroAsync(long offset, long length, CancellationToken cancellationToken)
    {
        if (ReadOnly)
        {
            return ValueTask.FromResult(BlockIoStatus.ReadOnly);
        }
        if (length > int.MaxValue)
        {
            return ZeroLargeAsync(offset, length, cancellationToken);
        }
        return RunAsync(offset, (int)length, OsdOpKind.OsdOpZero, default, default, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> ZeroLargeAsync(long offset, long length, CancellationToken cancellationToken)
    {
        const int Chunk = 1 << 30;
        for (long done = 0; done < length; done += Chunk)
        {
            BlockIoStatus status = await RunAsync(offset + done, (int)Math.Min(Chunk, length - done), OsdOpKind.OsdOpZero, default, default, cancellationToken).ConfigureAwait(false);
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        return BlockIoStatus.Ok;
    }

    private ValueTask<BlockIoStatus> RunAsync(long offset, int length, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (offset < 0 || length < 0 || offset + length > SizeBytes)
        {
            return ValueTask.FromResult(BlockIoStatus.OutOfRange);
        }
        if (length == 0)
        {
            return ValueTask.FromResult(BlockIoStatus.Ok);
        }
        long firstObject = offset / _objectSize;
        long lastObject = (offset + length - 1) / _objectSize;
        if (firstObject == lastObject)
        {
            return RunPieceAsync(firstObject, (ulong)(offset % _objectSize), 0, length, kind, source, destination, cancellationToken);
        }
        return RunSplitAsync(offset, length, kind, source, destination, cancellationToken);
    }

    private async ValueTask<BlockIoStatus> RunSplitAsync(long offset, int length, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var pieces = new List<Task<BlockIoStatus>>();
        int done = 0;
        while (done < length)
        {
            long position = offset + done;
            long index = position / _objectSize;
            ulong within = (ulong)(position % _objectSize);
            int take = (int)Math.Min(_objectSize - within, (ulong)(length - done));
            pieces.Add(RunPieceAsync(index, within, done, take, kind, source, destination, cancellationToken).AsTask());
            done += take;
        }
        BlockIoStatus[] results = await Task.WhenAll(pieces).ConfigureAwait(false);
        foreach (BlockIoStatus status in results)
        {
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        return BlockIoStatus.Ok;
    }

    private ValueTask<BlockIoStatus> RunPieceAsync(long index, ulong within, int bufferOffset, int take, OsdOpKind kind, ReadOnlyMemory<byte> source, Memory<byte> destination, CancellationToken cancellationToken) =>
        new(ExecutePieceAsync((ulong)index, within, kind,
            kind == OsdOpKind.OsdOpWrite ? source.Slice(bufferOffset, take) : default,
            kind == OsdOpKind.OsdOpRead ? destination.Slice(bufferOffset, take) : default,
            (uint)take, SnapId, cancellationToken));

    /// <summary>One object op with the clone logic around it (fall-through reads, copy-up before writes).</summary>
    private async Task<BlockIoStatus> ExecutePieceAsync(ulong index, ulong within, OsdOpKind kind, ReadOnlyMemory<byte> data, Memory<byte> destination, uint length, ulong snapId, CancellationToken cancellationToken)
    {
        View view = CurrentView();
        string name = ObjectName(_volumeId, index);
        if (kind == OsdOpKind.OsdOpRead)
        {
            var read = new ObjectRequest { Pool = _pool, Object = name, Kind = kind, Offset = within, Destination = destination, SnapId = snapId };
            ObjectResult result = await ExecuteAsync(read, cancellationToken).ConfigureAwait(false);
            if (result.Status != ObjectStatus.Ok)
            {
                return Map(result.Status);
            }
            if (!result.Exists && view.Parent is { } parent)
            {
                return await ReadParentAsync(parent, index * _objectSize + within, destination, cancellationToken).ConfigureAwait(false);
            }
            return BlockIoStatus.Ok;
        }
        if (LockEpoch != 0 && LocalLockCheck && !HoldsLock)
        {
            return BlockIoStatus.Fenced; // The map says the lock moved on: do not even try.
        }
        bool mayNeedCopyUp = view.Parent is { } p && index * _objectSize < p.Overlap && kind != OsdOpKind.OsdOpRollback;
        for (int attempt = 0; ; attempt++)
        {
            var request = new ObjectRequest
            {
                Pool = _pool,
                Object = name,
                Kind = kind,
                Offset = within,
                Length = length,
                Data = data,
                SnapId = snapId,
                SnapSeq = view.SnapSeq,
                Snaps = view.Snaps,
                LockEpoch = LockEpoch,
                RequireExists = mayNeedCopyUp,
            };
            ObjectResult result = await ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
            if (result.Status != ObjectStatus.NoObject || attempt >= MaxCopyUpAttempts)
            {
                return Map(result.Status);
            }
            BlockIoStatus copied = await CopyUpAsync(view, index, cancellationToken).ConfigureAwait(false);
            if (copied != BlockIoStatus.Ok)
            {
                return copied;
            }
            view = CurrentView();
        }
    }

    /// <summary>Writes the parent's data of one object into the clone's (still absent) object.</summary>
    private async Task<BlockIoStatus> CopyUpAsync(View view, ulong index, CancellationToken cancellationToken)
    {
        ulong start = index * _objectSize;
        ulong end = view.Parent is { } parent ? Math.Min(start + _objectSize, parent.Overlap) : start;
        int length = end > start ? (int)(end - start) : 0;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            Memory<byte> data = buffer.AsMemory(0, length);
            if (length > 0)
            {
                BlockIoStatus read = await ReadParentAsync(view.Parent!, start, data, cancellationToken).ConfigureAwait(false);
                if (read != BlockIoStatus.Ok)
                {
                    return read;
                }
                // Trailing zeros need not travel: the object reads zeros past its data.
                int last = data.Span.LastIndexOfAnyExcept((byte)0);
                data = data[..(last < 0 ? 0 : Math.Min(length, (last / 4096 + 1) * 4096))];
            }
            var request = new ObjectRequest
            {
                Pool = _pool,
                Object = ObjectName(_volumeId, index),
                Kind = OsdOpKind.OsdOpCopyUp,
                Data = data,
                SnapSeq = view.SnapSeq,
                Snaps = view.Snaps,
                LockEpoch = LockEpoch,
            };
            ObjectResult result = await ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
            return Map(result.Status);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads a range of a parent snapshot (zeros past the overlap), falling through to its own parent.</summary>
    private async Task<BlockIoStatus> ReadParentAsync(ParentLink parent, ulong offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        int inside = offset >= parent.Overlap ? 0 : (int)Math.Min((ulong)destination.Length, parent.Overlap - offset);
        destination[inside..].Span.Clear();
        int done = 0;
        var pieces = new List<Task<BlockIoStatus>>();
        while (done < inside)
        {
            ulong position = offset + (ulong)done;
            ulong index = position / parent.ObjectSize;
            ulong within = position % parent.ObjectSize;
            int take = (int)Math.Min(parent.ObjectSize - within, (ulong)(inside - done));
            Memory<byte> slice = destination.Slice(done, take);
            pieces.Add(ReadParentObjectAsync(parent, index, within, slice, cancellationToken));
            done += take;
        }
        foreach (BlockIoStatus status in await Task.WhenAll(pieces).ConfigureAwait(false))
        {
            if (status != BlockIoStatus.Ok)
            {
                return status;
            }
        }
        return BlockIoStatus.Ok;
    }

    private async Task<BlockIoStatus> ReadParentObjectAsync(ParentLink parent, ulong index, ulong within, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var read = new ObjectRequest { Pool = parent.Pool, Object = ObjectName(parent.VolumeId, index), Kind = OsdOpKind.OsdOpRead, Offset = within, Destination = destination, SnapId = parent.SnapId };
        ObjectResult result = await _objects.ExecuteAsync(read, cancellationToken).ConfigureAwait(false);
        if (result.Status != ObjectStatus.Ok)
        {
            return Map(result.Status);
        }
        if (!result.Exists && parent.Next is { } next)
        {
            return await ReadParentAsync(next, index * parent.ObjectSize + within, destination, cancellationToken).ConfigureAwait(false);
        }
        return BlockIoStatus.Ok;
    }

    private async Task<ObjectResult> ExecuteAsync(ObjectRequest request, CancellationToken cancellationToken)
    {
        try
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return ObjectResult.Failed(ObjectStatus.Cancelled);
        }
        try
        {
            return await _objects.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return ObjectResult.Failed(ObjectStatus.Cancelled);
        }
        finally
        {
            _slots.Release();
        }
    }

    private static BlockIoStatus Map(ObjectStatus status) => status switch
    {
        ObjectStatus.Ok => BlockIoStatus.Ok,
        ObjectStatus.Fenced or ObjectStatus.NotLockOwner => BlockIoStatus.Fenced,
        ObjectStatus.Invalid => BlockIoStatus.Invalid,
        ObjectStatus.Cancelled => BlockIoStatus.Cancelled,
        _ => BlockIoStatus.IoError,
    };

    private View CurrentView()
    {
        View view = Volatile.Read(ref _view);
        ClusterMap map = _cluster.Map;
        if (map.Epoch != view.Epoch)
        {
            view = View.Build(map, _volumeId, SnapId);
            Volatile.Write(ref _view, view);
        }
        return view;
    }

    /// <summary>What one map says about the volume: size, snapshot context, parent chain.</summary>
    private sealed class View
    {
        public ulong Epoch { get; private init; }

        public VolumeInfo? Volume { get; private init; }

        public ulong SizeBytes { get; private init; }

        public ulong SnapSeq { get; private init; }

        public ulong[] Snaps { get; private init; } = [];

        public ParentLink? Parent { get; private init; }

        public static View Build(ClusterMap map, ulong volumeId, ulong snapId)
        {
            VolumeInfo? volume = map.FindVolume(volumeId);
            ulong size = volume?.SizeBytes ?? 0;
            if (volume is not null && snapId != 0)
            {
                size = volume.Snapshots.FirstOrDefault(s => s.Id == snapId)?.SizeBytes ?? 0;
            }
            return new View
            {
                Epoch = map.Epoch,
                Volume = volume,
                SizeBytes = size,
                SnapSeq = volume?.SnapSeq ?? 0,
                Snaps = volume is null ? [] : volume.Snapshots.Select(s => s.Id).OrderByDescending(id => id).ToArray(),
                Parent = ParentLink.Build(map, volume, depth: 0),
            };
        }
    }

    /// <summary>A parent snapshot a clone reads through to, and that parent's own parent.</summary>
    private sealed class ParentLink
    {
        public ulong VolumeId { get; private init; }

        public uint Pool { get; private init; }

        public uint ObjectSize { get; private init; }

        public ulong SnapId { get; private init; }

        public ulong Overlap { get; private init; }

        public ParentLink? Next { get; private init; }

        public static ParentLink? Build(ClusterMap map, VolumeInfo? child, int depth)
        {
            if (child?.Parent is not { } parentRef || depth > 16)
            {
                return null;
            }
            VolumeInfo? parent = map.FindVolume(parentRef.VolumeId);
            if (parent is null)
            {
                return null;
            }
            ParentLink? next = ParentLink.Build(map, parent, depth + 1);
            return new ParentLink
            {
                VolumeId = parent.Id,
                Pool = parent.PoolId,
                ObjectSize = parent.ObjectSizeBytes == 0 ? DefaultObjectSize : parent.ObjectSizeBytes,
                SnapId = parentRef.SnapId,
                Overlap = parentRef.OverlapBytes,
                Next = next is null ? null : new ParentLink
                {
                    VolumeId = next.VolumeId,
                    Pool = next.Pool,
                    ObjectSize = next.ObjectSize,
                    SnapId = next.SnapId,
                    Overlap = Math.Min(next.Overlap, parentRef.OverlapBytes),
                    Next = next.Next,
                },
            };
        }
    }
}
