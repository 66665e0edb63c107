using System.Buffers;
using System.IO.Pipelines;
using FsCheck;
using FsCheck.Fluent;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Google.Protobuf;

namespace Fabric.Rpc.Tests.Protocol;

public sealed class ProtocolTests
{
    [Theory]
    [InlineData(1, "1000000n")]
    [InlineData(1000, "1000000u")]
    [InlineData(100_000, "100000m")]
    [InlineData(100_000_000, "100000S")]
    public void Timeouts_use_the_finest_unit_that_fits_in_eight_digits(long milliseconds, string expected)
    {
        Assert.Equal(expected, GrpcTimeout.Encode(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Theory]
    [InlineData("1H", 3600_000)]
    [InlineData("2M", 120_000)]
    [InlineData("3S", 3000)]
    [InlineData("250m", 250)]
    [InlineData("1500u", 1.5)]
    [InlineData("99999999u", 99999.999)]
    [InlineData("1500n", 0.0015)]
    public void Timeouts_parse_every_unit(string text, double milliseconds)
    {
        Assert.True(GrpcTimeout.TryParse(text, out TimeSpan timeout));
        Assert.Equal(milliseconds, timeout.TotalMilliseconds, 6);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("123456789S")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    public void Malformed_timeouts_are_refused(string text) => Assert.False(GrpcTimeout.TryParse(text, out _));

    [Fact]
    public void Timeout_encoding_round_trips_and_never_shortens() =>
        Prop.ForAll(Gen.Choose(1, int.MaxValue).Select(t => (long)t * 1000).ToArbitrary(), ticks =>
        {
            var timeout = TimeSpan.FromTicks(ticks);
            string text = GrpcTimeout.Encode(timeout);
            return text.Length <= 9 && GrpcTimeout.TryParse(text, out TimeSpan parsed) && parsed >= timeout
                && parsed - timeout <= TimeSpan.FromTicks((ticks / 50_000) + 10);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Status_messages_round_trip_through_percent_encoding() =>
        Prop.ForAll<string>(s =>
        {
            string detail = s ?? "";
            if (detail.Any(char.IsSurrogate))
            {
                return true; // lone surrogates are not text; UTF-8 cannot carry them
            }

            string encoded = StatusMessageEncoding.Encode(detail);
            return encoded.All(c => c >= 0x20 && c <= 0x7E) && StatusMessageEncoding.Decode(encoded) == detail;
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Percent_encoding_matches_the_spec_example_and_tolerates_broken_input()
    {
        Assert.Equal("a%25b%C3%A9%0A", StatusMessageEncoding.Encode("a%bé\n"));
        Assert.Equal("50% off %zz %4", StatusMessageEncoding.Decode("50% off %zz %4"));
    }

    [Fact]
    public void Metadata_refuses_bad_keys_and_values()
    {
        var metadata = new Metadata();
        Assert.Throws<ArgumentException>(() => metadata.Add("Bad Key", "v"));
        Assert.Throws<ArgumentException>(() => metadata.Add("grpc-status", "0"));
        Assert.Throws<ArgumentException>(() => metadata.Add("content-type", "x"));
        Assert.Throws<ArgumentException>(() => metadata.Add("k", "é"));
        Assert.Throws<ArgumentException>(() => metadata.Add("k-bin", "text"));
        Assert.Throws<ArgumentException>(() => metadata.Add("k", [1, 2]));
        Assert.Throws<InvalidOperationException>(() => Metadata.Empty.Add("k", "v"));
        metadata.Add("UPPER", "v");
        Assert.Equal("upper", metadata[0].Key);
    }

    [Fact]
    public void Binary_metadata_accepts_padded_unpadded_and_comma_joined_values()
    {
        var metadata = new Metadata();
        metadata.AddFromWire("x-bin", "AQI=, AQID");
        Assert.Equal([new byte[] { 1, 2 }, new byte[] { 1, 2, 3 }], metadata.GetAll("x-bin").Select(e => e.ValueBytes!).ToArray());
        Assert.Equal("AQI", Metadata.EncodeBase64([1, 2]));
    }

    [Fact]
    public void Framed_messages_parse_back_whatever_the_chunking() =>
        Prop.ForAll(Gen.Choose(0, 40).ToArbitrary(), Gen.Choose(1, 97).ToArbitrary(), (count, chunk) =>
        {
            EchoReply[] messages = Enumerable.Range(0, count)
                .Select(i => new EchoReply { Index = i, Text = new string('x', i * 7), Payload = ByteString.CopyFrom(new byte[i * 13]) })
                .ToArray();
            var buffer = new ArrayBufferWriter<byte>();
            foreach (EchoReply message in messages)
            {
                GrpcFrame.Write(buffer, message);
            }

            List<EchoReply> read = ReadAllChunked(buffer.WrittenMemory.ToArray(), chunk).GetAwaiter().GetResult();
            return read.SequenceEqual(messages);
        }).QuickCheckThrowOnFailure();

    private static async Task<List<EchoReply>> ReadAllChunked(byte[] bytes, int chunk)
    {
        var pipe = new Pipe();
        Task writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < bytes.Length; offset += chunk)
            {
                await pipe.Writer.WriteAsync(bytes.AsMemory(offset, Math.Min(chunk, bytes.Length - offset)));
            }

            await pipe.Writer.CompleteAsync();
        });
        var reader = new MessageReader(pipe.Reader, 1 << 20, null, "test");
        var result = new List<EchoReply>();
        while (await reader.ReadAsync(EchoReply.Parser, CancellationToken.None) is { } message)
        {
            result.Add(message);
        }

        await writer;
        return result;
    }
}
