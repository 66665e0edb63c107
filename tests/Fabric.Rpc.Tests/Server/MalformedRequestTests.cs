using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Fabric.Rpc.Client;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;

namespace Fabric.Rpc.Tests.Server;

/// <summary>
/// Hand-made HTTP/2 requests (HttpClient, raw bodies) that break the gRPC framing: each gets a clear
/// error status and the server keeps serving.
/// </summary>
public sealed class MalformedRequestTests
{
    public static TheoryData<string, byte[], string?, int> Bodies => new()
    {
        { "truncated message", Frame(0, 100, new byte[10]), null, 13 },
        { "truncated header", [0, 0, 0], null, 13 },
        { "bad compressed flag", Frame(7, 2, [8, 1]), null, 13 },
        { "compressed without grpc-encoding", Frame(1, 2, [8, 1]), null, 13 },
        { "compressed with gzip", Frame(1, 2, [8, 1]), "gzip", 12 },
        { "declared over the limit", Frame(0, 100_000_000, new byte[16]), null, 8 },
        { "bytes that are not protobuf", Frame(0, 3, [0xFF, 0xFF, 0xFF]), null, 13 },
        { "no message at all", [], null, 13 },
        { "two messages for a unary call", [.. Frame(0, 0, []), .. Frame(0, 0, [])], null, 13 },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task A_malformed_body_gets_an_error_status_and_the_server_keeps_serving(string what, byte[] body, string? encoding, int expectedStatus)
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler());
        using HttpRequestMessage request = GrpcRequest(server, "/fabric.test.Tester/Echo", body);
        if (encoding is not null)
        {
            request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string status = Header(response, "grpc-status") ?? throw new Xunit.Sdk.XunitException($"{what}: no grpc-status");
        Assert.True(expectedStatus.ToString() == status, $"{what}: expected grpc-status {expectedStatus}, got {status} ({Header(response, "grpc-message")})");
        Assert.False(string.IsNullOrEmpty(Header(response, "grpc-message")), $"{what}: no grpc-message");

        RpcChannel channel = server.Channel();
        Assert.Equal("still here", (await channel.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "still here" })).Text);
    }

    [Fact]
    public async Task A_bad_grpc_timeout_is_refused()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler());
        using HttpRequestMessage request = GrpcRequest(server, "/fabric.test.Tester/Echo", Frame(0, 0, []));
        request.Headers.TryAddWithoutValidation("grpc-timeout", "12x");

        using HttpResponseMessage response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("13", Header(response, "grpc-status"));
    }

    [Fact]
    public async Task A_post_that_is_not_grpc_gets_415()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler());
        using HttpRequestMessage request = GrpcRequest(server, "/fabric.test.Tester/Echo", []);
        request.Content!.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_are_served_over_http_1_1()
    {
        await using TestServer server = await TestServer.StartAsync();
        using var http = new HttpClient();

        using HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{server.HttpEndpoint.Port}/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new Version(1, 1), response.Version);
        Assert.Equal("fabric_test_up 1\n", await response.Content.ReadAsStringAsync());
        using HttpResponseMessage missing = await http.GetAsync($"http://127.0.0.1:{server.HttpEndpoint.Port}/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    private static HttpRequestMessage GrpcRequest(TestServer server, string path, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{server.Endpoint.Port}{path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    private static byte[] Frame(byte flag, uint declaredLength, byte[] bytes)
    {
        byte[] frame = new byte[5 + bytes.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength);
        bytes.CopyTo(frame, 5);
        return frame;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.TrailingHeaders.TryGetValues(name, out IEnumerable<string>? t) ? t.First()
        : response.Headers.TryGetValues(name, out IEnumerable<string>? h) ? h.First()
        : null;
}
