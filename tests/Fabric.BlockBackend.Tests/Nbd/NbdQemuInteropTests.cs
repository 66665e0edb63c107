using Fabric.BlockBackend.Tests.Support;

namespace Fabric.BlockBackend.Tests.Nbd;

/// <summary>QEMU's own tools (qemu-io, qemu-img, qemu-nbd) as NBD clients of our server.</summary>
public sealed class NbdQemuInteropTests(ITestOutputHelper output)
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task QemuIo_writes_and_reads_patterns_over_unix_and_tcp()
    {
        if (!Prerequisites.Have(output, "qemu-io"))
        {
            return;
        }
        await using var h = NbdHarness.Start(output, ("vol", 64 * MiB));

        var r = await ProcessRunner.RunAsync("qemu-io", ["-f", "raw", h.UnixUri("vol"),
            "-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M",
            "-c", "aio_write -P 0x11 2M 64k", "-c", "aio_write -P 0x22 3M 128k", "-c", "aio_flush",
            "-c", "read -P 0x11 2M 64k", "-c", "read -P 0x22 3M 128k",
            "-c", "write -z 512k 64k", "-c", "read -P 0 512k 64k", "-c", "read -P 0xab 576k 64k",
            "-c", "discard 3M 64k", "-c", "read -P 0 3M 64k", "-c", "read -P 0x22 3136k 64k",
            "-c", "write -P 0x5a -f 8M 4k", "-c", "flush"], output: output);
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("fail", r.All, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("error", r.All, StringComparison.OrdinalIgnoreCase);

        // The bytes are in the volume's file, exactly where qemu-io put them.
        var file = await File.ReadAllBytesAsync(h.Provider.PathOf("vol"));
        Assert.All(file.AsSpan(0, 512 * 1024).ToArray(), b => Assert.Equal(0xab, b));
        Assert.All(file.AsSpan(512 * 1024, 64 * 1024).ToArray(), b => Assert.Equal(0, b));
        Assert.All(file.AsSpan(2 * (int)MiB, 64 * 1024).ToArray(), b => Assert.Equal(0x11, b));
        Assert.All(file.AsSpan(8 * (int)MiB, 4096).ToArray(), b => Assert.Equal(0x5a, b));

        // TCP on loopback serves the same export.
        r = await ProcessRunner.RunAsync("qemu-io", ["-f", "raw", h.TcpUri("vol"), "-c", "read -P 0xab 0 512k", "-c", "read -P 0x5a 8M 4k"], output: output);
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("fail", r.All, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task QemuImg_convert_into_a_volume_and_back_is_byte_exact()
    {
        if (!Prerequisites.Have(output, "qemu-img"))
        {
            return;
        }
        await using var h = NbdHarness.Start(output, ("image", 24 * MiB));
        // A source image with data, holes and zero runs.
        var source = new byte[20 * MiB];
        var random = new Random(7);
        random.NextBytes(source.AsSpan(0, (int)(3 * MiB)));
        random.NextBytes(source.AsSpan((int)(7 * MiB) + 1234, 777777));
        random.NextBytes(source.AsSpan((int)(19 * MiB), (int)MiB));
        string src = h.Dir["src.raw"], back = h.Dir["back.raw"];
        await File.WriteAllBytesAsync(src, source);

        var r = await ProcessRunner.RunAsync("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", src, h.UnixUri("image")], output: output);
        Assert.Equal(0, r.ExitCode);
        r = await ProcessRunner.RunAsync("qemu-img", ["convert", "-f", "raw", "-O", "raw", h.UnixUri("image"), back], output: output);
        Assert.Equal(0, r.ExitCode);

        var copy = await File.ReadAllBytesAsync(back);
        Assert.Equal(24 * MiB, copy.Length);
        Assert.True(copy.AsSpan(0, source.Length).SequenceEqual(source), "round trip through the NBD export changed bytes");
        Assert.True(copy.AsSpan(source.Length).IndexOfAnyExcept((byte)0) < 0, "the tail past the source must read as zeros");

        // qemu-img's own comparison agrees (first 20 MiB).
        r = await ProcessRunner.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", src, h.UnixUri("image")], output: output);
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task QemuNbd_lists_the_exports_with_their_sizes()
    {
        if (!Prerequisites.Have(output, "qemu-nbd"))
        {
            return;
        }
        await using var h = NbdHarness.Start(output, ("alpha", 4 * MiB), ("beta", 8 * MiB));
        var r = await ProcessRunner.RunAsync("qemu-nbd", ["--list", "-k", h.Socket], output: output);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("export: 'alpha'", r.Stdout);
        Assert.Contains("export: 'beta'", r.Stdout);
        Assert.Contains("size:  8388608", r.Stdout);
        Assert.Contains("multi", r.Stdout);
    }

    [Fact]
    public async Task Two_clients_see_each_others_flushed_writes()
    {
        await using var h = NbdHarness.Start(output, ("shared", 16 * MiB));
        await using var a = await RawNbdClient.OpenAsync(h.Socket, "shared");
        await using var b = await RawNbdClient.OpenAsync(h.Socket, "shared");
        Assert.Equal(16 * MiB, a.ExportSize);
        Assert.NotEqual(0, a.TransmissionFlags & 0x100); // CAN_MULTI_CONN

        var one = Enumerable.Repeat((byte)0xc1, 64 * 1024).ToArray();
        Assert.Equal(0u, await a.WriteAsync(1 * MiB, one));
        Assert.Equal(0u, await a.FlushAsync());
        var (err, seen) = await b.ReadAsync(1 * MiB, one.Length);
        Assert.Equal(0u, err);
        Assert.Equal(one, seen);

        var two = Enumerable.Repeat((byte)0x2b, 4096).ToArray();
        Assert.Equal(0u, await b.WriteAsync(5 * MiB, two, fua: true));
        (err, seen) = await a.ReadAsync(5 * MiB, two.Length);
        Assert.Equal(0u, err);
        Assert.Equal(two, seen);

        // A third client through QEMU's tool sees both.
        if (Prerequisites.Have(output, "qemu-io"))
        {
            var r = await ProcessRunner.RunAsync("qemu-io", ["-f", "raw", h.UnixUri("shared"), "-c", "read -P 0xc1 1M 64k", "-c", "read -P 0x2b 5M 4k"], output: output);
            Assert.Equal(0, r.ExitCode);
            Assert.DoesNotContain("fail", r.All, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Many_requests_in_flight_complete_with_matching_cookies()
    {
        await using var h = NbdHarness.Start(output, ("busy", 16 * MiB));
        await using var c = await RawNbdClient.OpenAsync(h.Socket, "busy");
        const int count = 48;
        for (int i = 0; i < count; i++)
        {
            var block = Enumerable.Repeat((byte)(i + 1), 4096).ToArray();
            await c.SendRequestAsync(1, (ulong)(i * 4096), 4096, block);
        }
        var cookies = new HashSet<ulong>();
        for (int i = 0; i < count; i++)
        {
            var (err, cookie) = await c.ReadReplyAsync();
            Assert.Equal(0u, err);
            Assert.True(cookies.Add(cookie));
        }
        Assert.Equal(Enumerable.Range(1, count).Select(i => (ulong)i).ToHashSet(), cookies);
        for (int i = 0; i < count; i++)
        {
            var (err, data) = await c.ReadAsync(i * 4096, 4096);
            Assert.Equal(0u, err);
            Assert.All(data, b => Assert.Equal((byte)(i + 1), b));
        }
    }
}
