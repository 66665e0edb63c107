namespace Fabric.Core.Placement;

/// <summary>A placement group: pool id and the PG's index inside the pool (0 ≤ Seed &lt; pg_count).</summary>
public readonly record struct PgId(uint Pool, uint Seed) : IComparable<PgId>
{
    public int CompareTo(PgId other) => Pool != other.Pool ? Pool.CompareTo(other.Pool) : Seed.CompareTo(other.Seed);

    /// <summary>Ceph-style text: pool id, dot, seed in hex ("1.1f").</summary>
    public override string ToString() => $"{Pool}.{Seed:x}";

    public ulong Packed => ((ulong)Pool << 32) | Seed;

    public static PgId FromPacked(ulong packed) => new((uint)(packed >> 32), (uint)packed);

    public static bool TryParse(string text, out PgId pg)
    {
        pg = default;
        int dot = text.IndexOf('.');
        if (dot <= 0)
        {
            return false;
        }
        if (!uint.TryParse(text.AsSpan(0, dot), out uint pool) ||
            !uint.TryParse(text.AsSpan(dot + 1), System.Globalization.NumberStyles.HexNumber, null, out uint seed))
        {
            return false;
        }
        pg = new PgId(pool, seed);
        return true;
    }
}
