namespace Fabric.BlockBackend.Volumes;

/// <summary>Range checks shared by the volume implementations: overflow-safe, never throwing.</summary>
public static class BlockRange
{
    /// <summary>True when [offset, offset + length) lies inside a volume of <paramref name="sizeBytes"/>.</summary>
    public static bool IsInside(long offset, long length, long sizeBytes) =>
        offset >= 0 && length >= 0 && offset <= sizeBytes && length <= sizeBytes - offset;
}
