namespace Fabric.Hypervisor.Migration;

/// <summary>
/// The downtime limit QEMU is given as a migration goes on (OpenStack Nova's "downtime steps" idea): start
/// small and double every pass after the first few, up to the limit the user asked for.
///
/// Why: QEMU stops the guest for the final copy as soon as what is left fits the limit at the measured
/// bandwidth. On a fast link that is a lot of memory: at ~900 MB/s a 300 ms limit lets it stop with 270 MB
/// still dirty, and QEMU's estimate of that copy is often off (we measured 350-650 ms pauses that way). A
/// guest whose dirty rate is well under the link's converges to a small remainder in a few more passes,
/// which cost far less than the pause they save; one that does not converge still reaches the user's limit
/// after a handful of passes.
/// </summary>
public static class DowntimeSteps
{
    /// <summary>The limit of the first passes when the request does not say.</summary>
    public const uint DefaultInitialMs = 25;

    /// <summary>Passes (QEMU's MIGRATION_PASS count, 1 = the start of the first full copy) run at the initial limit.</summary>
    public const long PassesAtInitial = 3;

    /// <summary>The downtime limit for pass <paramref name="pass"/>: <paramref name="initialMs"/> for the first
    /// <see cref="PassesAtInitial"/> passes, then doubled each pass, never above <paramref name="maxMs"/>.</summary>
    public static uint LimitFor(uint maxMs, uint initialMs, long pass)
    {
        var start = Math.Min(maxMs, Math.Max(1u, initialMs));
        if (pass <= PassesAtInitial) return start;
        var doublings = Math.Min(pass - PassesAtInitial, 31);
        var limit = (ulong)start << (int)doublings;
        return (uint)Math.Min(maxMs, limit);
    }
}
