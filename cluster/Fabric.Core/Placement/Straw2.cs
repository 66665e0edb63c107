namespace Fabric.Core.Placement;

/// <summary>
/// Weighted rendezvous hashing (CRUSH's straw2): every candidate draws <c>ln(u) / weight</c> with
/// <c>u</c> a hash of (input, candidate, attempt) in (0, 1]; the highest draw wins. Changing one
/// candidate's weight only moves inputs to or from that candidate, which is what makes placement move
/// the ideal fraction of data when a node is added or removed.
/// </summary>
/// <remarks>
/// Deterministic across processes: the hash is integer arithmetic and ln is taken of an exactly
/// representable double.
/// </remarks>
public static class Straw2
{
    /// <summary>A 64-bit mix of the inputs (splitmix64 finaliser over a combination).</summary>
    public static ulong Hash(ulong input, uint candidate, uint attempt)
    {
        ulong x = input * 0x9E3779B97F4A7C15UL;
        x ^= ((ulong)candidate << 32 | attempt) * 0xC2B2AE3D27D4EB4FUL;
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return x;
    }

    /// <summary>The straw length of one candidate from its hash: higher wins. Weight must be positive.</summary>
    public static double Draw(ulong hash, double weight)
    {
        // u in (0, 1] from the top 53 bits: every double is exact, so ln(u) is the same on every x64 libm
        // that rounds log correctly (glibc does for this range); a coarse table biased weighted draws.
        double u = ((hash >> 11) + 1) * (1.0 / 9007199254740992.0);
        return Math.Log(u) / weight;
    }
}
