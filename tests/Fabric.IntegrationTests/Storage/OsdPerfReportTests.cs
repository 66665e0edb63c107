using Fabric.Cli.Storage;
using Fabric.Proto;
using Spectre.Console;

namespace Fabric.IntegrationTests.Storage;

/// <summary>How `fabric osd perf` lays out what the OSDs report: the table and the JSON (no cluster needed).</summary>
public sealed class OsdPerfReportTests
{
    private static NodeInfo Node(uint id, NodeState state = NodeState.Up) =>
        new() { Id = id, Name = "n" + id, State = state, In = true, GrpcAddress = $"127.0.0.{id}:7000" };

    private static OsdStageLatency Stage(string name, ulong count, double sumSeconds = 0, double p50Seconds = 0, double p99Seconds = 0) =>
        new() { Stage = name, Count = count, SumSeconds = sumSeconds, P50Seconds = p50Seconds, P99Seconds = p99Seconds };

    /// <summary>What an OSD that led 4 writes, replicated 2 for others and served 1 read reports (every stage, as GetStatus does).</summary>
    private static OsdStatusReply Busy(int osd) => new()
    {
        Osd = osd,
        Stages =
        {
            Stage("write", 4, sumSeconds: 0.0012, p50Seconds: 0.000255, p99Seconds: 0.0123),
            Stage("write_prepare", 4, 0.0003, 0.000075, 0.000079),
            Stage("write_local_commit", 4, 0.0006, 0.000143, 0.000159),
            Stage("write_replica_ack", 8, 0.0016, 0.000191, 0.000223),
            Stage("replica_commit", 2, 0.0004, 0.000135, 0.000143),
            Stage("read", 1, 0.00005, 0.000047, 0.000047),
            Stage("store_sync", 6, 0.75, 0.125, 0.151),
        },
    };

    /// <summary>An OSD that started and has done nothing yet.</summary>
    private static OsdStatusReply Idle(int osd)
    {
        var reply = new OsdStatusReply { Osd = osd };
        foreach (var name in new[] { "write", "write_prepare", "write_local_commit", "write_replica_ack", "replica_commit", "read", "store_sync" })
        {
            reply.Stages.Add(Stage(name, 0));
        }
        return reply;
    }

    /// <summary>Four nodes, given out of order: n3 busy, n1 idle, n2 down in the map, n4 up but not answering.</summary>
    private static OsdPerfReport Report() => OsdPerfReport.Build(
    [
        (Node(3), Busy(3), null),
        (Node(1), Idle(1), null),
        (Node(2, NodeState.Down), null, "node is down"),
        (Node(4), null, "Unavailable: connection refused"),
    ]);

    [Theory]
    [InlineData(0.0, "0.000")]
    [InlineData(0.000075, "0.075")]
    [InlineData(0.000255, "0.255")]
    [InlineData(0.00123, "1.23")]
    [InlineData(0.0123, "12.3")]
    [InlineData(0.170, "170")]
    [InlineData(2.5, "2500")]
    public void Milliseconds_keep_three_significant_digits(double seconds, string expected) =>
        Assert.Equal(expected, OsdPerfReport.Milliseconds(seconds));

    [Fact]
    public void Every_osd_has_a_row_sorted_by_id_and_one_that_did_not_answer_says_why()
    {
        var rows = Report().Rows().ToList();
        Assert.Equal(
            ["osd", "node", "writes", "write p50 ms", "write p99 ms", "commit p50 ms", "replica ack p50 ms", "replica commit p50 ms", "reads", "read p50 ms", "sync p50 ms"],
            OsdPerfReport.Headers);
        Assert.Equal(["1", "n1", "0", "-", "-", "-", "-", "-", "0", "-", "-"], rows[0]); // Nothing recorded: "-", not "0 ms".
        Assert.Equal(["2", "n2", "down", "-", "-", "-", "-", "-", "-", "-", "-"], rows[1]);
        Assert.Equal(["3", "n3", "4", "0.255", "12.3", "0.143", "0.191", "0.135", "1", "0.047", "125"], rows[2]);
        Assert.Equal(["4", "n4", "no answer", "-", "-", "-", "-", "-", "-", "-", "-"], rows[3]);
    }

    [Fact]
    public void The_table_has_a_header_and_one_line_per_osd()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 220;
        console.Write(Report().Table());
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.All(c => c is '─' or ' ')).ToList();
        Assert.Equal(5, lines.Count);
        Assert.StartsWith("OSD", lines[0]);
        Assert.Contains("REPLICA COMMIT P50 MS", lines[0]);
        Assert.Matches(@"^1\s+n1\s+0\s+-", lines[1]);
        Assert.Matches(@"^2\s+n2\s+down\s+-", lines[2]);
        Assert.Matches(@"^3\s+n3\s+4\s+0\.255\s+12\.3\s+0\.143\s+0\.191\s+0\.135\s+1\s+0\.047\s+125$", lines[3]);
        Assert.Matches(@"^4\s+n4\s+no answer\s+-", lines[4]);
    }

    [Fact]
    public void Json_lists_every_osd_with_count_mean_p50_and_p99_in_ms_per_stage()
    {
        var json = Report().ToJson();
        Assert.Equal([1, 2, 3, 4], json.Select(o => (int)o!["osd"]!));

        var busy = json[2]!;
        Assert.Equal("n3", (string)busy["node"]!);
        Assert.True((bool)busy["up"]! && (bool)busy["reachable"]!);
        Assert.Null(busy["error"]);
        var stages = busy["stages"]!.AsObject();
        Assert.Equal(["write", "write_prepare", "write_local_commit", "write_replica_ack", "replica_commit", "read", "store_sync"], stages.Select(s => s.Key));
        var write = stages["write"]!;
        Assert.Equal(4UL, (ulong)write["count"]!);
        Assert.Equal(0.3, (double)write["mean_ms"]!); // 1.2 ms over 4 writes
        Assert.Equal(0.255, (double)write["p50_ms"]!);
        Assert.Equal(12.3, (double)write["p99_ms"]!);
        Assert.Equal(125.0, (double)stages["store_sync"]!["mean_ms"]!);

        var idle = json[0]!["stages"]!["write"]!;
        Assert.Equal(0UL, (ulong)idle["count"]!);
        Assert.Equal(0.0, (double)idle["mean_ms"]!); // Not NaN: an idle OSD's JSON stays valid.

        var down = json[1]!;
        Assert.False((bool)down["up"]!);
        Assert.False((bool)down["reachable"]!);
        Assert.Equal("node is down", (string)down["error"]!);
        Assert.Empty(down["stages"]!.AsObject());
        var silent = json[3]!;
        Assert.True((bool)silent["up"]!);
        Assert.Equal("Unavailable: connection refused", (string)silent["error"]!);
    }
}
