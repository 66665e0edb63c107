using Fabric.Core.Units;

namespace Fabric.Config.Model;

/// <summary>One <c>[[volume]]</c>: a replicated block device.</summary>
public sealed record VolumeConfig
{
    public static readonly ByteSize DefaultObjectSize = ByteSize.FromMiB(4);
    public static readonly ByteSize MinObjectSize = ByteSize.FromKiB(64);
    public static readonly ByteSize MaxObjectSize = ByteSize.FromMiB(64);

    /// <summary>Volume sizes are whole 4 KiB blocks (the storage block size).</summary>
    public const long SizeAlignment = 4096;

    public required string Name { get; init; }

    public required string Pool { get; init; }

    public required ByteSize Size { get; init; }

    /// <summary>Stripe object size: a power of two from 64KiB to 64MiB.</summary>
    public ByteSize ObjectSize { get; init; } = DefaultObjectSize;

    public ConfigSource Source { get; init; } = ConfigSource.None;
}
