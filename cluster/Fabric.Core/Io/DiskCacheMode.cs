namespace Fabric.Core.Io;

/// <summary>
/// How a VM disk's writes meet the node's write cache: the <c>cache</c> key of a <c>[[vm.disk]]</c> table,
/// named as Proxmox and libvirt name theirs (<c>cache=writeback|writethrough|none</c>). In the cluster map
/// it is <see cref="DiskCacheModes.ToMapText"/>'s text.
/// </summary>
/// <remarks>
/// The only cache a disk can have here is the node's <c>write_cache</c> (a <c>WriteBackVolume</c> shared by
/// every handle of the volume on the node); there is no host page cache in the path, so QEMU's distinction
/// between <c>writethrough</c> and <c>none</c> (O_DIRECT) has nothing to act on.
/// </remarks>
public enum DiskCacheMode
{
    /// <summary>"default" (or the key left out): the node decides: write-back when it has <c>write_cache</c>, else write-through.</summary>
    Default,

    /// <summary>
    /// "writeback": writes are acknowledged from the node's write cache and become durable at the guest's next
    /// flush (or within the cache's age limit). On a node without <c>write_cache</c> the disk runs write-through
    /// and the node logs a warning.
    /// </summary>
    WriteBack,

    /// <summary>"writethrough": every write completes only once it is durable on every replica.</summary>
    WriteThrough,

    /// <summary>
    /// "none": accepted so Proxmox and libvirt habits carry over; it behaves exactly as <see cref="WriteThrough"/>,
    /// since there is no host page cache to bypass.
    /// </summary>
    None,
}

/// <summary>The text of a <see cref="DiskCacheMode"/>, as written in a cluster file and kept in the map.</summary>
public static class DiskCacheModes
{
    /// <summary>Each mode with its text, in the order error messages list them.</summary>
    public static readonly IReadOnlyList<(string Text, DiskCacheMode Mode)> All =
    [
        ("default", DiskCacheMode.Default),
        ("writeback", DiskCacheMode.WriteBack),
        ("writethrough", DiskCacheMode.WriteThrough),
        ("none", DiskCacheMode.None),
    ];

    /// <summary>The accepted texts, for messages: "default", "writeback", "writethrough", "none".</summary>
    public static string Expected => string.Join(", ", All.Select(choice => $"\"{choice.Text}\""));

    /// <summary>The mode's text: "default", "writeback", "writethrough" or "none".</summary>
    public static string ToText(this DiskCacheMode mode) => All.First(choice => choice.Mode == mode).Text;

    /// <summary>
    /// The mode's text in a map's <c>VmDisk.cache</c>: empty for <see cref="DiskCacheMode.Default"/>, so the specs
    /// of disks that leave the key out are the same as before it existed (and plans show no change for them).
    /// </summary>
    public static string ToMapText(this DiskCacheMode mode) => mode == DiskCacheMode.Default ? string.Empty : mode.ToText();

    /// <summary>
    /// The mode a map's <c>VmDisk.cache</c> names; the empty text (a spec written before the key existed, or
    /// the default left out) is <see cref="DiskCacheMode.Default"/>. False for any other text.
    /// </summary>
    public static bool TryParse(string? text, out DiskCacheMode mode)
    {
        mode = DiskCacheMode.Default;
        if (string.IsNullOrEmpty(text)) return true;
        foreach (var (choiceText, choiceMode) in All)
        {
            if (choiceText == text)
            {
                mode = choiceMode;
                return true;
            }
        }
        return false;
    }

    /// <summary>The mode of a disk whose spec was checked already (VmSpecCheck on the node, MapTransactions in the map):
    /// an unknown text here is a bug, not input.</summary>
    public static DiskCacheMode FromCheckedText(string? text) =>
        TryParse(text, out var mode) ? mode : throw new InvalidOperationException($"disk cache '{text}' reached a VM launch unchecked (VmSpecCheck refuses it)");

    /// <summary>True for the modes whose every write must be durable before it completes ("writethrough", "none").</summary>
    public static bool WritesThrough(this DiskCacheMode mode) => mode is DiskCacheMode.WriteThrough or DiskCacheMode.None;
}
