using System.Text.Json;
using Fabric.Hypervisor.Qmp;

namespace Fabric.Hypervisor.Tests.Qmp;

public class QmpMigrationInfoTests
{
    [Fact]
    public void Parses_an_active_source_answer()
    {
        var json = """
        {"expected-downtime": 42, "status": "active", "setup-time": 3, "total-time": 1234,
         "ram": {"total": 268435456, "remaining": 1048576, "transferred": 300000000, "dirty-pages-rate": 1500,
                 "mbps": 2048.5, "dirty-sync-count": 3, "page-size": 4096}}
        """;
        var i = QmpMigrationInfo.Parse(JsonDocument.Parse(json).RootElement);
        Assert.Equal("active", i.Status);
        Assert.Equal(42, i.ExpectedDowntimeMs);
        Assert.Equal(1234, i.TotalTimeMs);
        Assert.Equal(268435456, i.RamTotalBytes);
        Assert.Equal(1048576, i.RamRemainingBytes);
        Assert.Equal(300000000, i.RamTransferredBytes);
        Assert.Equal(1500, i.DirtyPagesRate);
        Assert.Equal(3, i.DirtySyncCount);
        Assert.Equal(2048.5, i.ThroughputMbps);
        Assert.Null(i.DowntimeMs);
        Assert.False(i.IsTerminal);
    }

    [Fact]
    public void Parses_an_incoming_answer_with_the_resolved_port_and_an_empty_one()
    {
        var json = """{"socket-address": [{"port": "43205", "ipv4": true, "host": "127.0.0.1", "type": "inet"}]}""";
        var i = QmpMigrationInfo.Parse(JsonDocument.Parse(json).RootElement);
        Assert.Equal("", i.Status);
        Assert.Equal(new QmpSocketAddress("inet", "127.0.0.1", 43205), Assert.Single(i.SocketAddresses));
        var empty = QmpMigrationInfo.Parse(JsonDocument.Parse("{}").RootElement);
        Assert.Equal(0, empty.RamTransferredBytes);
    }

    [Fact]
    public void Failed_carries_the_error()
    {
        var i = QmpMigrationInfo.Parse(JsonDocument.Parse("""{"status":"failed","error-desc":"Unable to write to socket: Broken pipe"}""").RootElement);
        Assert.True(i.IsTerminal);
        Assert.Equal("Unable to write to socket: Broken pipe", i.ErrorDescription);
    }
}
