using Fabric.Core.Units;

namespace Fabric.Cli.Storage;

/// <summary>Sizes given on the command line (`--size 10GiB`, `--bs 4K`), parsed with <see cref="ByteSize"/>.</summary>
public static class SizeOption
{
    /// <summary>The size in bytes, or a usage error naming the option and what it accepts.</summary>
    public static long Parse(string? text, string option)
    {
        if (text is null) throw new CliException($"{option} is required ({ByteSize.Expected})", CliException.Usage);
        if (!ByteSize.TryParse(text, out var size, out var error)) throw new CliException($"{option}: {error}", CliException.Usage);
        return size.Bytes;
    }

    public static string Text(long bytes) => new ByteSize(bytes).ToString();
}
