using Fabric.Hypervisor.Qmp;
using Fabric.Hypervisor.Tests.Infra;

namespace Fabric.Hypervisor.Tests.Qmp;

public class QmpClientTests : IDisposable
{
    private readonly TestDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(FakeQmpServer, QmpClient)> ConnectAsync(TimeSpan? timeout = null)
    {
        var server = new FakeQmpServer(Path.Combine(_dir.Path, $"q{Guid.NewGuid():N}.sock"));
        var connect = QmpClient.ConnectAsync(server.Path, timeout ?? TimeSpan.FromSeconds(10));
        await server.HandshakeAsync();
        var client = await connect;
        return (server, client);
    }

    [Fact]
    public async Task Handshake_reads_the_version_and_commands_get_typed_answers()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        Assert.Equal("7.2.22", client.QemuVersion);
        var status = client.QueryStatusAsync();
        var cmd = await server.NextCommandAsync();
        Assert.Equal("query-status", cmd.GetProperty("execute").GetString());
        await server.ReplyAsync(cmd, """{"status": "running", "singlestep": false, "running": true}""");
        Assert.Equal(new QmpRunStatus("running", true), await status);
    }

    [Fact]
    public async Task Arguments_are_sent_with_their_qemu_names()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        var t = client.MigrateSetParametersAsync(new Dictionary<string, object> { ["downtime-limit"] = 300L, ["max-bandwidth"] = 1024L });
        var cmd = await server.NextCommandAsync();
        Assert.Equal(300, cmd.GetProperty("arguments").GetProperty("downtime-limit").GetInt64());
        Assert.Equal(1024, cmd.GetProperty("arguments").GetProperty("max-bandwidth").GetInt64());
        await server.ReplyAsync(cmd, "{}");
        await t;
        var caps = client.MigrateSetCapabilitiesAsync(new Dictionary<string, bool> { ["events"] = true });
        cmd = await server.NextCommandAsync();
        var cap = cmd.GetProperty("arguments").GetProperty("capabilities")[0];
        Assert.Equal("events", cap.GetProperty("capability").GetString());
        Assert.True(cap.GetProperty("state").GetBoolean());
        await server.ReplyAsync(cmd, "{}");
        await caps;
    }

    [Fact]
    public async Task Answers_are_matched_by_id_even_out_of_order()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        var a = client.ExecuteAsync("a");
        var b = client.ExecuteAsync("b");
        var ca = await server.NextCommandAsync();
        var cb = await server.NextCommandAsync();
        await server.ReplyAsync(cb, "\"B\"");
        await server.ReplyAsync(ca, "\"A\"");
        Assert.Equal("A", (await a).GetString());
        Assert.Equal("B", (await b).GetString());
    }

    [Fact]
    public async Task An_error_answer_is_a_QmpException_with_class_and_description()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        var t = client.ExecuteAsync("migrate-continue");
        var cmd = await server.NextCommandAsync();
        await server.SendRawAsync($"{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"Migration not in expected state\"}}, \"id\": {cmd.GetProperty("id")}}}\n");
        var e = await Assert.ThrowsAsync<QmpException>(() => t);
        Assert.Equal("migrate-continue", e.Command);
        Assert.Equal("GenericError", e.ErrorClass);
        Assert.Equal("Migration not in expected state", e.Description);
    }

    [Fact]
    public async Task Events_reach_every_subscriber_and_interleave_with_answers()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        using var s1 = client.Subscribe();
        using var s2 = client.Subscribe();
        var t = client.ExecuteAsync("stop");
        var cmd = await server.NextCommandAsync();
        await server.SendRawAsync("""{"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "STOP"}""" + "\n");
        await server.SendRawAsync("""{"timestamp": {"seconds": 1700000001, "microseconds": 0}, "event": "MIGRATION", "data": {"status": "active"}}""" + "\n");
        await server.ReplyAsync(cmd, "{}");
        await t;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var e1 = await s1.Reader.ReadAsync(cts.Token);
        Assert.Equal("STOP", e1.Name);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000).AddTicks(50), e1.Timestamp);
        var m = await s2.WaitForAsync("MIGRATION", e => e.DataString("status") == "active", cts.Token);
        Assert.NotNull(m);
    }

    [Fact]
    public async Task A_command_without_answer_times_out_and_its_late_answer_is_dropped()
    {
        var (server, client) = await ConnectAsync(TimeSpan.FromMilliseconds(300));
        await using var _ = server;
        await using var __ = client;
        var slow = client.ExecuteAsync("slow");
        var cmd = await server.NextCommandAsync();
        var e = await Assert.ThrowsAsync<TimeoutException>(() => slow);
        Assert.Contains("slow", e.Message);
        var next = client.ExecuteAsync("next", timeout: TimeSpan.FromSeconds(10));
        var cmd2 = await server.NextCommandAsync();
        await server.ReplyAsync(cmd, "\"late\"");
        await server.ReplyAsync(cmd2, "\"right\"");
        Assert.Equal("right", (await next).GetString());
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Losing_the_connection_fails_waiting_commands_and_completes_subscriptions()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        using var sub = client.Subscribe();
        var t = client.ExecuteAsync("query-status");
        await server.NextCommandAsync();
        server.DropConnection();
        await Assert.ThrowsAsync<QmpConnectionLostException>(() => t);
        await client.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(client.IsConnected);
        Assert.False(await sub.Reader.WaitToReadAsync());
        await Assert.ThrowsAsync<QmpConnectionLostException>(() => client.ExecuteAsync("cont"));
        // quit counts a closed connection as done.
        await client.QuitAsync();
    }

    [Fact]
    public async Task Malformed_json_ends_the_connection_with_a_reason()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        await server.SendRawAsync("{not json\n");
        await client.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Contains("malformed", client.CloseReason);
    }

    [Fact]
    public async Task A_peer_that_is_not_QMP_is_refused()
    {
        var server = new FakeQmpServer(Path.Combine(_dir.Path, "notqmp.sock"), """{"hello": "world"}""");
        await using var _ = server;
        var e = await Assert.ThrowsAsync<QmpConnectionLostException>(() => QmpClient.ConnectAsync(server.Path, TimeSpan.FromSeconds(10)));
        Assert.Contains("not QMP", e.Message);
    }

    [Fact]
    public async Task Migration_info_helper_parses_the_answer()
    {
        var (server, client) = await ConnectAsync();
        await using var _ = server;
        await using var __ = client;
        var t = client.QueryMigrateAsync();
        var cmd = await server.NextCommandAsync();
        await server.ReplyAsync(cmd, """{"status": "completed", "total-time": 512, "downtime": 12, "ram": {"transferred": 1000}}""");
        var info = await t;
        Assert.Equal(("completed", 512L, (long?)12L, 1000L), (info.Status, info.TotalTimeMs, info.DowntimeMs, info.RamTransferredBytes));
    }
}
