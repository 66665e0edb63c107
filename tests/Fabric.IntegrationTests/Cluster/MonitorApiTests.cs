using Fabric.Membership.Client;
using Fabric.Proto;
using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Cluster;

/// <summary>Bad input to a real monitor: a clear gRPC error, and the map unchanged.</summary>
public sealed class MonitorApiTests
{
    [Fact]
    public async Task Duplicate_join_stale_change_and_malformed_request_are_refused_without_changing_the_map()
    {
        await using var cluster = TestCluster.Create(nodeCount: 2);
        await cluster.UpAsync();
        using var monitors = new MonitorClient([cluster.Grpc("n1")]);
        var map = await monitors.GetLatestMapAsync(CancellationToken.None);

        // A second process claiming the name of a running node, from another address.
        var duplicate = await Assert.ThrowsAsync<RpcException>(() => monitors.JoinAsync(new JoinRequest
        {
            Name = "n2",
            GrpcAddress = $"{cluster.Address(0)}:7999",
            DataAddress = cluster.Address(0),
        }, CancellationToken.None));
        Assert.Equal(StatusCode.AlreadyExists, duplicate.StatusCode);
        Assert.Contains("already used by node", duplicate.Detail);

        // A change based on an old epoch.
        var stale = new MapTransaction { BaseEpoch = map.Epoch - 1 };
        stale.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "late" } } });
        var staleError = await Assert.ThrowsAsync<RpcException>(() => monitors.ProposeAsync(stale, CancellationToken.None));
        Assert.Equal(StatusCode.Aborted, staleError.StatusCode);
        Assert.Contains("re-read the map", staleError.Detail);

        // A well-formed message with nonsense in it.
        var invalid = new MapTransaction();
        invalid.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "bad pool!", PgCount = 3 } } });
        var invalidError = await Assert.ThrowsAsync<RpcException>(() => monitors.ProposeAsync(invalid, CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, invalidError.StatusCode);

        // Bytes that are not a protobuf message at all.
        using var http = new HttpClient(new SocketsHttpHandler()) { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var garbage = new ByteArrayContent([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]);
        garbage.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using var response = await http.PostAsync($"http://{cluster.Grpc("n1")}/fabric.Monitor/ProposeChange", garbage);
        await response.Content.ReadAsByteArrayAsync();
        var grpcStatus = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.First()
            : response.Headers.TryGetValues("grpc-status", out var headerValues) ? headerValues.First() : null;
        Assert.NotNull(grpcStatus);
        Assert.NotEqual("0", grpcStatus);

        var after = await monitors.GetLatestMapAsync(CancellationToken.None);
        Assert.Equal(map.Epoch, after.Epoch);
        Assert.Equal(map.Nodes.Count, after.Nodes.Count);

        // The monitor still works.
        var good = new MapTransaction();
        good.Changes.Add(new MapChange { PoolCreate = new PoolCreate { Pool = new PoolInfo { Name = "fine" } } });
        var reply = await monitors.ProposeAsync(good, CancellationToken.None);
        Assert.Equal(map.Epoch + 1, reply.Epoch);
    }
}
