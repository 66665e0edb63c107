using System.Buffers.Binary;
using Fabric.BlockBackend.Tests.Support;

namespace Fabric.BlockBackend.Tests.Nbd;

/// <summary>Malformed or hostile NBD input fails that request or that connection, with a logged reason; others go on.</summary>
public sealed class NbdBadInputTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Bad_option_magic_closes_that_connection_while_another_client_keeps_working()
    {
        await using var h = NbdHarness.Start(output, ("vol", 8 * MiB));
        await using var good = await RawNbdClient.OpenAsync(h.Socket, "vol");

        await using var bad = await RawNbdClient.ConnectUnixAsync(h.Socket);
        await bad.GreetAsync();
        await bad.SendOptionAsync(7, new byte[6], magic: 0xdeadbeefcafef00d);
        Assert.True(await bad.IsClosedByServerAsync(Deadline));
        await h.Log.WaitForAsync("bad option magic");

        Assert.Equal(0u, await good.WriteAsync(0, new byte[4096]));
        Assert.Equal(0u, await good.FlushAsync());
    }

    [Fact]
    public async Task Unknown_client_flags_and_garbage_greetings_are_refused()
    {
        await using var h = NbdHarness.Start(output, ("vol", 8 * MiB));
        await using (var bad = await RawNbdClient.ConnectUnixAsync(h.Socket))
        {
            await bad.GreetAsync(clientFlags: 0xffff0001);
            Assert.True(await bad.IsClosedByServerAsync(Deadline));
        }
        await h.Log.WaitForAsync("unknown client flags");

        await using (var bad = await RawNbdClient.ConnectUnixAsync(h.Socket))
        {
            await bad.GreetAsync();
            // An option that claims 1 GiB of data.
            var header = new byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(header, 0x49484156454F5054);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), 7);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), 1u << 30);
            await bad.Stream.WriteAsync(header);
            Assert.True(await bad.IsClosedByServerAsync(Deadline));
        }
        await h.Log.WaitForAsync("carries 1073741824 bytes");

        // A client that hangs up in the middle of the handshake.
        await using (var bad = await RawNbdClient.ConnectUnixAsync(h.Socket))
        {
            await bad.GreetAsync();
            await bad.Stream.WriteAsync(new byte[5]);
        }
        await h.Log.WaitForAsync("in the middle of a message");

        await using var good = await RawNbdClient.OpenAsync(h.Socket, "vol");
        Assert.Equal(0u, (await good.ReadAsync(0, 512)).Error);
    }

    [Fact]
    public async Task Unknown_export_gets_an_error_reply_and_the_negotiation_goes_on()
    {
        await using var h = NbdHarness.Start(output, ("vol", 8 * MiB));
        await using var c = await RawNbdClient.ConnectUnixAsync(h.Socket);
        await c.GreetAsync();
        var error = await c.GoAsync("no-such-volume");
        Assert.NotNull(error);
        Assert.Contains("no volume named 'no-such-volume'", error);
        Assert.Null(await c.GoAsync("vol"));
        Assert.Equal(0u, (await c.ReadAsync(0, 4096)).Error);
        // A name that tries to leave the directory is not a volume name.
        await using var d = await RawNbdClient.ConnectUnixAsync(h.Socket);
        await d.GreetAsync();
        Assert.Contains("not a valid volume name", await d.GoAsync("../volumes/vol"));
    }

    [Fact]
    public async Task Out_of_range_and_unknown_requests_fail_alone_and_the_connection_goes_on()
    {
        await using var h = NbdHarness.Start(output, ("vol", 8 * MiB));
        await using var c = await RawNbdClient.OpenAsync(h.Socket, "vol");

        var (err, _) = await c.ReadAsync(8 * MiB - 512, 4096);
        Assert.Equal(22u, err); // EINVAL
        Assert.Equal(28u, await c.WriteAsync(8 * MiB, new byte[4096])); // ENOSPC, payload consumed
        await c.SendRequestAsync(0, ulong.MaxValue - 100, 4096); // offset + length overflows
        Assert.Equal(22u, (await c.ReadReplyAsync()).Error);
        await c.SendRequestAsync(0, 0, 64u << 20); // larger than the advertised maximum
        Assert.Equal(75u, (await c.ReadReplyAsync()).Error); // EOVERFLOW
        await c.SendRequestAsync(42, 0, 0); // no such command
        Assert.Equal(22u, (await c.ReadReplyAsync()).Error);
        await h.Log.WaitForAsync("range past the end");
        await h.Log.WaitForAsync("unknown command 42");

        var data = Enumerable.Repeat((byte)7, 4096).ToArray();
        Assert.Equal(0u, await c.WriteAsync(8 * MiB - 4096, data));
        var (ok, back) = await c.ReadAsync(8 * MiB - 4096, 4096);
        Assert.Equal(0u, ok);
        Assert.Equal(data, back);
    }

    [Fact]
    public async Task Oversized_write_or_bad_request_magic_closes_only_that_connection()
    {
        await using var h = NbdHarness.Start(output, ("vol", 8 * MiB));
        await using var other = await RawNbdClient.OpenAsync(h.Socket, "vol");

        await using (var c = await RawNbdClient.OpenAsync(h.Socket, "vol"))
        {
            await c.SendRequestAsync(1, 0, 1u << 30); // claims a 1 GiB payload: the stream cannot be trusted
            Assert.True(await c.IsClosedByServerAsync(Deadline));
        }
        await h.Log.WaitForAsync("exceeds the 33554432-byte maximum");

        await using (var c = await RawNbdClient.OpenAsync(h.Socket, "vol"))
        {
            await c.SendRequestAsync(0, 0, 4096, magic: 0x12345678);
            Assert.True(await c.IsClosedByServerAsync(Deadline));
        }
        await h.Log.WaitForAsync("bad request magic 0x12345678");

        Assert.Equal(0u, await other.WriteAsync(4096, new byte[4096]));
        Assert.Equal(0u, (await other.ReadAsync(4096, 4096)).Error);
    }
}
