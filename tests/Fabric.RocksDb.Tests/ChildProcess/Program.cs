// Entry point of the test assembly when it runs as a child process of the crash and lock tests
// (the test host never calls Main). Modes:
//   crash-writer <db> <writers>   write CrashWorkload through a DurableWriter forever, printing
//                                 "acked <writer> <sequence>" after each write is durable
//   unsynced-writer <db> <count>  write <count> values with sync=false and ManualWalFlush, never
//                                 flush the WAL, print "written <count>" and wait to be killed
//   hold-open <db>                open the database, print "open", wait until stdin closes
using System.Buffers.Binary;

namespace Fabric.RocksDb.Tests.ChildProcess;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0) return 2;
        try
        {
            return args[0] switch
            {
                "crash-writer" => CrashWriter(args[1], int.Parse(args[2])),
                "unsynced-writer" => UnsyncedWriter(args[1], int.Parse(args[2])),
                "hold-open" => HoldOpen(args[1]),
                _ => 2,
            };
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    private static int CrashWriter(string path, int writers)
    {
        var db = RocksDatabase.Open(path, CrashWorkload.Options, [CrashWorkload.DataFamily, CrashWorkload.MetaFamily]);
        var writer = new DurableWriter(db, maxPendingWrites: 64);
        var data = db.GetColumnFamily(CrashWorkload.DataFamily);
        var meta = db.GetColumnFamily(CrashWorkload.MetaFamily);
        var tasks = new Task[writers];
        for (int w = 0; w < writers; w++)
        {
            int id = w;
            tasks[w] = Task.Run(async () =>
            {
                using var batch = new WriteBatch();
                var header = new byte[CrashWorkload.HeaderBytes];
                var body = new byte[CrashWorkload.BodyBytes];
                var sequenceBytes = new byte[8];
                for (long sequence = 0; ; sequence++)
                {
                    CrashWorkload.FillHeader(header, id, sequence);
                    CrashWorkload.FillBody(body, id, sequence);
                    BinaryPrimitives.WriteInt64BigEndian(sequenceBytes, sequence);
                    batch.Clear();
                    batch.Put(data, CrashWorkload.DataKey(id, sequence), header, body);
                    batch.Put(meta, CrashWorkload.MetaKey(id), sequenceBytes);
                    await writer.WriteAsync(batch);
                    Console.Out.WriteLine($"acked {id} {sequence}");
                }
            });
        }
        Task.WaitAll(tasks);
        return 0;
    }

    private static int UnsyncedWriter(string path, int count)
    {
        var db = RocksDatabase.Open(path, CrashWorkload.Options, [CrashWorkload.DataFamily]);
        var data = db.GetColumnFamily(CrashWorkload.DataFamily);
        var value = new byte[CrashWorkload.HeaderBytes + CrashWorkload.BodyBytes];
        for (int i = 0; i < count; i++)
        {
            db.Put(data, CrashWorkload.DataKey(0, i), value, sync: false);
        }
        Console.Out.WriteLine($"written {count}");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    private static int HoldOpen(string path)
    {
        using var db = RocksDatabase.Open(path);
        Console.Out.WriteLine("open");
        Console.In.ReadToEnd();
        return 0;
    }
}
