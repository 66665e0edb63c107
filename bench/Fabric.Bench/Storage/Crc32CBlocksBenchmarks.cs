using BenchmarkDotNet.Attributes;
using Fabric.Core.Checksums;

namespace Fabric.Bench.Storage;

/// <summary>
/// The per-block crc32c of a 4 MiB placed write (1024 blocks of 4 KiB), one block at a time vs four interleaved
/// (<see cref="Crc32C.ComputeBlocks"/>). `dotnet run -c Release --project bench/Fabric.Bench -- --filter '*Crc32CBlocks*' --job short`.
/// </summary>
[MemoryDiagnoser]
public class Crc32CBlocksBenchmarks
{
    private const int BlockSize = 4096;
    private readonly byte[] _data = new byte[4 << 20];
    private readonly uint[] _crcs = new uint[1024];

    [GlobalSetup]
    public void Setup() => new Random(1).NextBytes(_data);

    [Benchmark(Baseline = true)]
    public uint OneBlockAtATime()
    {
        for (int i = 0; i < _crcs.Length; i++)
        {
            _crcs[i] = Crc32C.Compute(_data.AsSpan(i * BlockSize, BlockSize));
        }
        return _crcs[^1];
    }

    [Benchmark]
    public uint FourBlocksAtATime()
    {
        Crc32C.ComputeBlocks(_data, BlockSize, _crcs);
        return _crcs[^1];
    }
}
