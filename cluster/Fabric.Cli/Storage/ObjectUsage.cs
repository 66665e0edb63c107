using Fabric.Client.Objects;
using Fabric.Client.Volumes;
using Fabric.Proto;

namespace Fabric.Cli.Storage;

/// <summary>`fabric volume info --du`: how many of a volume's objects exist and how many bytes they hold
/// (one stat per object at its primary, many at a time), like `rbd du`.</summary>
public static class ObjectUsage
{
    public static async Task<(long Objects, ulong Bytes, string? Error)> MeasureAsync(ObjectClient objects, VolumeInfo volume, CancellationToken cancellationToken, int parallel = 32)
    {
        ulong objectSize = volume.ObjectSizeBytes == 0 ? VolumeClient.DefaultObjectSize : volume.ObjectSizeBytes;
        ulong count = (volume.SizeBytes + objectSize - 1) / objectSize;
        long existing = 0;
        long bytes = 0;
        string? error = null;
        long next = -1;
        async Task Worker()
        {
            while (true)
            {
                ulong index = (ulong)Interlocked.Increment(ref next);
                if (index >= count || Volatile.Read(ref error) is not null) return;
                var name = VolumeClient.ObjectName(volume.Id, index);
                var stat = await objects.ExecuteAsync(new ObjectRequest { Pool = volume.PoolId, Object = name, Kind = OsdOpKind.OsdOpStat }, cancellationToken).ConfigureAwait(false);
                if (stat.Status != ObjectStatus.Ok)
                {
                    Interlocked.CompareExchange(ref error, $"stat of object {name} failed: {stat.Status}", null);
                    return;
                }
                if (stat.Exists)
                {
                    Interlocked.Increment(ref existing);
                    Interlocked.Add(ref bytes, (long)stat.ObjectSize);
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, (int)Math.Min((ulong)parallel, Math.Max(1, count))).Select(_ => Worker())).ConfigureAwait(false);
        return (existing, (ulong)bytes, error);
    }
}
