using System.Text;
using Fabric.Config.Toml;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.Config.Tests.Toml;

/// <summary>
/// Properties of the TOML reader over random input: every document the test writer renders (in random
/// but valid forms) parses back to exactly the data it was written from, and no input, however
/// mangled, makes the reader throw anything but a <see cref="TomlException"/>.
/// </summary>
public sealed class TomlPropertyTests
{
    [Fact]
    public void RandomDocumentsRoundTripThroughTheWriter()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), Arb.From(Gen.Choose(0, int.MaxValue)), (modelSeed, writeSeed) =>
        {
            var model = new RandomTomlDocument(modelSeed);
            var text = model.Write(writeSeed);
            TomlDocument parsed;
            try
            {
                parsed = TomlReader.Parse(text, "random.toml");
            }
            catch (TomlException exception)
            {
                throw new InvalidOperationException($"seeds {modelSeed}/{writeSeed}: the writer's TOML was rejected: {exception.Message}\n{text}");
            }

            var difference = RandomTomlDocument.Difference(model.Root, parsed.Root);
            if (difference is not null)
            {
                throw new InvalidOperationException($"seeds {modelSeed}/{writeSeed}: {difference}\n{text}");
            }

            // The tagged JSON of anything that parses is well-formed JSON.
            using var json = System.Text.Json.JsonDocument.Parse(TomlTaggedJson.ToJson(parsed.Root));
            return true;
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(500));
    }

    [Fact]
    public void MangledDocumentsFailOnlyWithTomlException()
    {
        const string fragments = "[]{}=.,\"'#\n\r\t \\:+-_0123456789abcxyzeEinfnatrue\u0000\u007f\u00e9";
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var text = new StringBuilder(new RandomTomlDocument(seed).Write(seed));
            var edits = random.Next(1, 6);
            for (var i = 0; i < edits; i++)
            {
                var at = random.Next(text.Length + 1);
                switch (random.Next(3))
                {
                    case 0:
                        text.Insert(at, fragments[random.Next(fragments.Length)]);
                        break;
                    case 1 when at < text.Length:
                        text.Remove(at, Math.Min(text.Length - at, random.Next(1, 4)));
                        break;
                    default:
                        if (at < text.Length)
                        {
                            text[at] = fragments[random.Next(fragments.Length)];
                        }

                        break;
                }
            }

            AssertOnlyTomlExceptions(text.ToString(), seed);
            return true;
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void RandomBytesFailOnlyWithTomlException()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var random = new Random(seed);
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            try
            {
                TomlReader.Parse(bytes, "random.bin");
            }
            catch (TomlException)
            {
            }

            return true;
        }).QuickCheckThrowOnFailure();
    }

    private static void AssertOnlyTomlExceptions(string text, int seed)
    {
        try
        {
            var document = TomlReader.Parse(text, "mangled.toml");
            _ = TomlTaggedJson.ToJson(document.Root);
        }
        catch (TomlException exception)
        {
            if (exception.Line < 1 || exception.Column < 1)
            {
                throw new InvalidOperationException($"seed {seed}: error without a position: {exception.Message}");
            }
        }
        catch (Exception exception)
        {
            throw new InvalidOperationException($"seed {seed}: {exception.GetType().Name} on input:\n{text}", exception);
        }
    }
}
