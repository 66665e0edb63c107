using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Fabric.Proto;
using Fabric.Rpc.Protocol;

namespace Fabric.Bench.Rpc;

/// <summary>
/// Framing cost without sockets: encode a message into a reused buffer writer, and decode it back from
/// a pipe with the MessageReader the server and client use. Allocations per operation are reported.
/// Run: dotnet run -c Release --project bench/Fabric.Bench -- rpc-framing
/// </summary>
[MemoryDiagnoser]
public class RpcFramingBenchmarks
{
    private readonly ArrayBufferWriter<byte> _writer = new(64 * 1024);
    private ClusterMap _message = null!;
    private byte[] _framed = null!;
    private Pipe _pipe = null!;
    private MessageReader _reader = null!;

    [Params(16, 4096)]
    public int BodyBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = new ClusterMap { Epoch = 42, Fsid = new string('f', BodyBytes) };
        var writer = new ArrayBufferWriter<byte>();
        GrpcFrame.Write(writer, _message);
        _framed = writer.WrittenSpan.ToArray();
        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        _reader = new MessageReader(_pipe.Reader, int.MaxValue, null, "bench");
    }

    [Benchmark]
    public int Encode()
    {
        _writer.ResetWrittenCount();
        return GrpcFrame.Write(_writer, _message);
    }

    [Benchmark]
    public ulong Decode()
    {
        _pipe.Writer.Write(_framed);
        _pipe.Writer.FlushAsync().GetAwaiter().GetResult();
        ClusterMap map = _reader.ReadAsync(ClusterMap.Parser, CancellationToken.None).AsTask().GetAwaiter().GetResult()!;
        return map.Epoch;
    }
}
