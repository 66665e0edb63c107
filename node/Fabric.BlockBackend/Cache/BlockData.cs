using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabric.BlockBackend.Cache;

/// <summary>One 4 KiB block as a blittable value FASTER stores inline in its log.</summary>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
internal struct BlockData
{
    public const int Bytes = 4096;
    private long _first;

    public static Span<byte> AsBytes(ref BlockData data) => MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref data, 1));

    static BlockData() => System.Diagnostics.Debug.Assert(Unsafe.SizeOf<BlockData>() == Bytes);
}
