using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Proto;

namespace Fabric.Cli.Storage;

/// <summary>What an <see cref="ObjectSweep"/> did: objects looked at, objects that existed and were
/// removed, and the first failure (null when every op succeeded).</summary>
public readonly record struct SweepResult(long Examined, long Removed, string? Error);

/// <summary>
/// Removes the data objects of a volume in an index range through the object client, many at a time
/// (`volume rm` and the shrinking `volume resize`). Each object is first stat'ed at its primary (a read,
/// not replicated) and deleted only when it exists, so a thin volume costs a delete only per object
/// that was ever written.
/// </summary>
public static class ObjectSweep
{
    public const int DefaultParallel = 32;

    public static async Task<SweepResult> RemoveAsync(ObjectClient objects, VolumeInfo volume, ulong firstIndex, ulong endIndex, IProgress<long>? progress,
        CancellationToken cancellationToken, int parallel = DefaultParallel)
    {
        if (endIndex <= firstIndex) return new SweepResult(0, 0, null);
        long examined = 0, removed = 0;
        string? error = null;
        ulong next = firstIndex;
        var gate = new object();
        async Task Worker()
        {
            while (true)
            {
                ulong index;
                lock (gate)
                {
                    if (next >= endIndex || error is not null) return;
                    index = next++;
                }
                var name = VolumeClient.ObjectName(volume.Id, index);
                var stat = await objects.ExecuteAsync(new ObjectRequest { Pool = volume.PoolId, Object = name, Kind = OsdOpKind.OsdOpStat }, cancellationToken).ConfigureAwait(false);
                if (stat.Status == ObjectStatus.Ok && stat.Exists)
                {
                    var delete = await objects.ExecuteAsync(new ObjectRequest { Pool = volume.PoolId, Object = name, Kind = OsdOpKind.OsdOpDelete }, cancellationToken).ConfigureAwait(false);
                    if (delete.Status != ObjectStatus.Ok)
                    {
                        lock (gate) error ??= $"deleting object {name} failed: {delete.Status}";
                        return;
                    }
                    Interlocked.Increment(ref removed);
                }
                else if (stat.Status != ObjectStatus.Ok)
                {
                    lock (gate) error ??= $"looking up object {name} failed: {stat.Status}";
                    return;
                }
                progress?.Report(Interlocked.Increment(ref examined));
            }
        }
        await Task.WhenAll(Enumerable.Range(0, (int)Math.Min((ulong)parallel, endIndex - firstIndex)).Select(_ => Worker())).ConfigureAwait(false);
        return new SweepResult(examined, removed, error);
    }

    /// <summary>Zeroes an object from <paramref name="from"/> to its end (the object a shrink cuts in two).</summary>
    public static async Task<string?> ZeroTailAsync(ObjectClient objects, VolumeInfo volume, ulong index, ulong from, CancellationToken cancellationToken)
    {
        var name = VolumeClient.ObjectName(volume.Id, index);
        var stat = await objects.ExecuteAsync(new ObjectRequest { Pool = volume.PoolId, Object = name, Kind = OsdOpKind.OsdOpStat }, cancellationToken).ConfigureAwait(false);
        if (stat.Status != ObjectStatus.Ok) return $"looking up object {name} failed: {stat.Status}";
        if (!stat.Exists || stat.ObjectSize <= from) return null;
        var zero = await objects.ExecuteAsync(new ObjectRequest
        {
            Pool = volume.PoolId, Object = name, Kind = OsdOpKind.OsdOpZero, Offset = from, Length = (uint)(stat.ObjectSize - from),
        }, cancellationToken).ConfigureAwait(false);
        return zero.Status == ObjectStatus.Ok ? null : $"zeroing the end of object {name} failed: {zero.Status}";
    }
}
