namespace Fabric.Core.Placement;

/// <summary>
/// Where one PG lives in one map. <see cref="Placement"/> is the raw ordered OSD set chosen by straw2
/// over the "in" nodes (it includes down nodes: down keeps data in place); <see cref="Acting"/> is the
/// placement's up members in the same order (who serves I/O); <see cref="Primary"/> is the first of
/// them, or -1 when none is up.
/// </summary>
public sealed class PgMapping
{
    public PgMapping(PgId pg, int[] placement, int[] acting, uint replicas, uint minReplicas)
    {
        Pg = pg;
        Placement = placement;
        Acting = acting;
        Replicas = replicas;
        MinReplicas = minReplicas;
    }

    public PgId Pg { get; }

    public int[] Placement { get; }

    public int[] Acting { get; }

    public uint Replicas { get; }

    public uint MinReplicas { get; }

    public int Primary => Acting.Length > 0 ? Acting[0] : -1;

    public bool Contains(int osd) => Array.IndexOf(Acting, osd) >= 0;

    /// <summary>Same acting set in the same order and same pool sizes (the interval does not change).</summary>
    public bool SameActing(PgMapping other)
    {
        if (Replicas != other.Replicas || MinReplicas != other.MinReplicas || Acting.Length != other.Acting.Length)
        {
            return false;
        }
        for (int i = 0; i < Acting.Length; i++)
        {
            if (Acting[i] != other.Acting[i])
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => $"{Pg} placement=[{string.Join(",", Placement)}] acting=[{string.Join(",", Acting)}]";
}
