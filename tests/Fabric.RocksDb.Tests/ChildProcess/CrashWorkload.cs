// The deterministic content the crash tests write and then check: writer w's write number s puts
// data/<w>/<s> = 100-byte header + 4 KiB body (derived from w and s) and, in the same batch,
// meta/<w> = s. After a crash the checker can tell exactly which writes survived and whether each
// batch landed whole.
using System.Buffers.Binary;
using System.Text;

namespace Fabric.RocksDb.Tests.ChildProcess;

public static class CrashWorkload
{
    public const string DataFamily = "data";
    public const string MetaFamily = "meta";
    public const int HeaderBytes = 100;
    public const int BodyBytes = 4096;

    public static RocksDbOptions Options => new()
    {
        ManualWalFlush = true,
        // Small memtables so the run crosses several memtable switches (and WAL file switches).
        WriteBufferSizeBytes = 256 << 10,
        LogLevel = RocksDbLogLevel.Warn,
    };

    public static byte[] DataKey(int writer, long sequence)
    {
        var key = new byte[2 + 12];
        Encoding.ASCII.GetBytes($"{writer:D2}").CopyTo(key, 0);
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(2), sequence);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(10), writer);
        return key;
    }

    public static byte[] WriterPrefix(int writer) => Encoding.ASCII.GetBytes($"{writer:D2}");

    public static byte[] MetaKey(int writer) => Encoding.ASCII.GetBytes($"writer-{writer:D2}");

    public static void FillHeader(Span<byte> header, int writer, long sequence)
    {
        header.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(header, writer);
        BinaryPrimitives.WriteInt64LittleEndian(header[4..], sequence);
    }

    public static void FillBody(Span<byte> body, int writer, long sequence)
    {
        // A fixed seed per (writer, sequence): HashCode is randomized per process, this must not be.
        var random = new Random(unchecked(writer * 1_000_003 + (int)sequence));
        random.NextBytes(body);
    }

    public static byte[] ExpectedValue(int writer, long sequence)
    {
        var value = new byte[HeaderBytes + BodyBytes];
        FillHeader(value.AsSpan(0, HeaderBytes), writer, sequence);
        FillBody(value.AsSpan(HeaderBytes), writer, sequence);
        return value;
    }
}
