using System.Diagnostics;
using Fabric.Core.Io;

namespace Fabric.IntegrationTests.Storage;

/// <summary>
/// Keeps writing <see cref="CheckedBlock"/>s to random blocks of a volume and remembers, per block, the
/// sequence number of the last write the cluster acknowledged. Each worker owns the blocks whose index
/// is congruent to its number, so writes to one block never overlap and "the latest acknowledged
/// sequence" is exact: afterwards every block must read back with exactly that sequence.
/// </summary>
public sealed class ChecksummedWriter
{
    private readonly IBlockVolume _volume;
    private readonly int _workers;
    private readonly int _seed;
    private readonly long[] _acked;
    private readonly List<string> _failures = new();
    private long _sequence;
    private long _ackedWrites;
    private long _maxLatencyTicks;
    private volatile bool _stopping;
    private Task? _running;

    public ChecksummedWriter(IBlockVolume volume, int workers, int seed)
    {
        _volume = volume;
        _workers = workers;
        _seed = seed;
        Blocks = volume.SizeBytes / CheckedBlock.Size;
        _acked = new long[Blocks];
        Array.Fill(_acked, -1);
    }

    public long Blocks { get; }

    public long AckedWrites => Interlocked.Read(ref _ackedWrites);

    public TimeSpan MaxLatency => TimeSpan.FromTicks(Interlocked.Read(ref _maxLatencyTicks) * TimeSpan.TicksPerSecond / Stopwatch.Frequency);

    public IReadOnlyList<string> Failures
    {
        get
        {
            lock (_failures) return _failures.ToList();
        }
    }

    /// <summary>Writes every block once (sequence 0), 1 MiB per request, so every object of the volume is full.</summary>
    public async Task FillAsync(int parallel = 8)
    {
        const int BlocksPerChunk = 256;
        long next = -1;
        async Task Worker()
        {
            var buffer = new byte[BlocksPerChunk * CheckedBlock.Size];
            while (true)
            {
                long chunk = Interlocked.Increment(ref next);
                long first = chunk * BlocksPerChunk;
                if (first >= Blocks) return;
                int count = (int)Math.Min(BlocksPerChunk, Blocks - first);
                for (int i = 0; i < count; i++) CheckedBlock.Fill(buffer.AsSpan(i * CheckedBlock.Size, CheckedBlock.Size), first + i, 0);
                var status = await _volume.WriteAsync(first * CheckedBlock.Size, buffer.AsMemory(0, count * CheckedBlock.Size), fua: false, CancellationToken.None);
                if (status != BlockIoStatus.Ok) throw new InvalidOperationException($"filling blocks {first}..{first + count}: {status}");
                for (int i = 0; i < count; i++) _acked[first + i] = 0;
            }
        }
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(_ => Worker()));
    }

    public void Start()
    {
        _running = Task.WhenAll(Enumerable.Range(0, _workers).Select(w => Task.Run(() => WorkerAsync(w))));
    }

    /// <summary>Stops after every worker's current write completes (a write is never abandoned half-way).</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        if (_running is not null) await _running;
    }

    private async Task WorkerAsync(int worker)
    {
        var random = new Random(_seed * 31 + worker);
        var buffer = new byte[CheckedBlock.Size];
        long owned = (Blocks - worker + _workers - 1) / _workers;
        while (!_stopping)
        {
            long index = random.NextInt64(owned) * _workers + worker;
            long sequence = Interlocked.Increment(ref _sequence);
            CheckedBlock.Fill(buffer, index, sequence);
            long start = Stopwatch.GetTimestamp();
            var status = await _volume.WriteAsync(index * CheckedBlock.Size, buffer, fua: false, CancellationToken.None);
            long elapsed = Stopwatch.GetTimestamp() - start;
            long max;
            while (elapsed > (max = Interlocked.Read(ref _maxLatencyTicks)) && Interlocked.CompareExchange(ref _maxLatencyTicks, elapsed, max) != max)
            {
            }
            if (status != BlockIoStatus.Ok)
            {
                lock (_failures) _failures.Add($"write of block {index} (sequence {sequence}) failed: {status}");
                return;
            }
            _acked[index] = sequence;
            Interlocked.Increment(ref _ackedWrites);
        }
    }

    /// <summary>Reads the whole volume back; returns one line per block that is not exactly its last
    /// acknowledged write (at most <paramref name="limit"/>), and the number of such blocks.</summary>
    public async Task<(int Bad, List<string> Problems)> VerifyAsync(IBlockVolume volume, int limit = 20)
    {
        const int BlocksPerChunk = 256;
        var problems = new List<string>();
        int bad = 0;
        var buffer = new byte[BlocksPerChunk * CheckedBlock.Size];
        for (long first = 0; first < Blocks; first += BlocksPerChunk)
        {
            int count = (int)Math.Min(BlocksPerChunk, Blocks - first);
            var status = await volume.ReadAsync(first * CheckedBlock.Size, buffer.AsMemory(0, count * CheckedBlock.Size), CancellationToken.None);
            if (status != BlockIoStatus.Ok)
            {
                bad += count;
                if (problems.Count < limit) problems.Add($"reading blocks {first}..{first + count}: {status}");
                continue;
            }
            for (int i = 0; i < count; i++)
            {
                long index = first + i;
                long expected = _acked[index];
                string? problem = null;
                if (!CheckedBlock.TryRead(buffer.AsSpan(i * CheckedBlock.Size, CheckedBlock.Size), out var foundIndex, out var foundSequence, out var why))
                {
                    problem = expected < 0 ? null : why;
                }
                else if (foundIndex != index)
                {
                    problem = $"holds block {foundIndex}'s data";
                }
                else if (foundSequence != expected)
                {
                    problem = $"holds sequence {foundSequence}, the last acknowledged write was {expected}";
                }
                if (problem is null) continue;
                bad++;
                if (problems.Count < limit) problems.Add($"block {index}: {problem}");
            }
        }
        return (bad, problems);
    }
}
