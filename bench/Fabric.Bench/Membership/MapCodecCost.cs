using System.Buffers;
using System.Diagnostics;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Bench.Membership;

/// <summary>
/// What one map costs to put on the wire and take off it, measured in this process: the server side of
/// WatchMap serializes the map once per watcher (CalculateSize + WriteTo) and each watcher parses it
/// once. Multiplied by the watcher count, this is the serialization share of a fan-out.
/// </summary>
public static class MapCodecCost
{
    public sealed record Cost(int Bytes, double SerializeMicros, double ParseMicros);

    public static Cost Measure(ClusterMap map, int iterations = 2000)
    {
        var bytes = map.ToByteArray();
        var buffer = new ArrayBufferWriter<byte>(bytes.Length + 16);
        for (int i = 0; i < 200; i++)
        {
            buffer.ResetWrittenCount();
            map.WriteTo(buffer);
            ClusterMap.Parser.ParseFrom(bytes);
        }
        var serialize = new double[iterations];
        var parse = new double[iterations];
        for (int i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            buffer.ResetWrittenCount();
            _ = map.CalculateSize();
            map.WriteTo(buffer);
            var middle = Stopwatch.GetTimestamp();
            _ = ClusterMap.Parser.ParseFrom(bytes);
            var end = Stopwatch.GetTimestamp();
            serialize[i] = (middle - start) * 1e6 / Stopwatch.Frequency;
            parse[i] = (end - middle) * 1e6 / Stopwatch.Frequency;
        }
        Array.Sort(serialize);
        Array.Sort(parse);
        // Medians: the machine is shared, and a preempted iteration says nothing about the code.
        return new Cost(bytes.Length, serialize[iterations / 2], parse[iterations / 2]);
    }
}
