using System.Text.Json.Nodes;
using Fabric.Cli.Storage;
using Fabric.Proto;

namespace Fabric.IntegrationTests.Storage;

/// <summary>How `fabric osd ops` lays out what the OSDs hold: rows oldest first across OSDs, the summary lines and the
/// JSON (no cluster needed).</summary>
public sealed class OsdOpsReportTests
{
    private static NodeInfo Node(uint id, NodeState state = NodeState.Up) =>
        new() { Id = id, Name = "n" + id, State = state, In = true, GrpcAddress = $"127.0.0.{id}:7000" };

    private static OsdOpInFlight Op(string name, double age, string wait, string detail) => new()
    {
        Object = name, Pg = "1.2a", PgState = "undersized+degraded", Client = "client.4", Tid = 17, Kind = "write",
        OpEpoch = 9, OsdEpoch = 9, AgeSeconds = age, Wait = wait, Detail = detail,
    };

    [Fact]
    public void Ops_of_every_osd_are_listed_oldest_first_and_an_osd_without_an_answer_is_named()
    {
        var n1 = new ListOsdOpsReply { Osd = 1, MapEpoch = 9, Matched = 3, MergedResends = 4, RefusedRequestIds = 1 };
        n1.Ops.Add(Op("vol.data.0001", 12.5, "min_replicas", "min_replicas: 1 of 2 members up"));
        n1.Ops.Add(Op("vol.data.0002", 0.25, "replica_acks", "acks from osd.3"));
        var n3 = new ListOsdOpsReply { Osd = 3, MapEpoch = 9, Matched = 1 };
        n3.Ops.Add(Op("vol.data.0003", 3, "peering", "peering: PG queries unanswered by osd.2"));
        var report = OsdOpsReport.Build([(Node(3), n3, null), (Node(2, NodeState.Down), null, "node is down"), (Node(1), n1, null)]);

        var rows = report.Rows().ToList();
        Assert.Equal(["vol.data.0001", "vol.data.0003", "vol.data.0002"], rows.Select(r => r[3]));
        Assert.Equal(["1", "12.5", "write", "vol.data.0001", "1.2a", "undersized+degraded", "client.4", "17", "min_replicas: 1 of 2 members up"], rows[0]);
        Assert.Equal(OsdOpsReport.Headers.Count, rows[0].Length);

        var summary = report.Summary().ToList();
        Assert.Equal(
        [
            "osd.1 (n1): 3 op(s) (1 more not listed: raise --limit); resends merged 4, request ids refused 1",
            "osd.2 (n2): down: node is down",
            "osd.3 (n3): 1 op(s); resends merged 0, request ids refused 0",
        ], summary);

        JsonArray json = report.ToJson();
        Assert.Equal([1, 2, 3], json.Select(o => (int)o!["osd"]!));
        Assert.False((bool)json[1]!["reachable"]!);
        Assert.Equal("node is down", (string)json[1]!["error"]!);
        Assert.Empty(json[1]!["ops"]!.AsArray());
        var oldest = json[0]!["ops"]![0]!;
        Assert.Equal("min_replicas", (string)oldest["wait"]!);
        Assert.Equal(12.5, (double)oldest["age_seconds"]!);
        Assert.Equal(3u, (uint)json[0]!["matched"]!);
        Assert.Equal(4ul, (ulong)json[0]!["merged_resends"]!);
    }
}
