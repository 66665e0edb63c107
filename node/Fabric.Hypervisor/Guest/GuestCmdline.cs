using System.Text;
using Fabric.Proto;

namespace Fabric.Hypervisor.Guest;

/// <summary>
/// Composes the kernel command line the tiny guest's /init reads (Guest/init documents each key):
/// console on ttyS0, hostname = VM name, one address per NIC in NIC order ("-" for a NIC without one),
/// the gateway, the number of disks to wait for, the workload as base64, the power-off flag.
/// </summary>
public static class GuestCmdline
{
    /// <summary>x86's COMMAND_LINE_SIZE (2048) less the terminating zero.</summary>
    public const int MaxLength = 2047;

    /// <exception cref="ArgumentException">The result does not fit the kernel's command line (a workload too long).</exception>
    public static string Compose(VmSpec spec, GuestCmdlineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new GuestCmdlineOptions();
        var sb = new StringBuilder("console=ttyS0");
        if (!options.Verbose) sb.Append(" quiet");
        sb.Append(" fabric.hostname=").Append(spec.Name);
        if (spec.Nics.Count > 0)
        {
            sb.Append(" fabric.ip=").Append(string.Join(',', spec.Nics.Select(n => string.IsNullOrWhiteSpace(n.Ip) ? "-" : n.Ip.Trim())));
        }
        if (!string.IsNullOrWhiteSpace(options.Gateway)) sb.Append(" fabric.gw=").Append(options.Gateway.Trim());
        if (spec.Disks.Count > 0) sb.Append(" fabric.disks=").Append(spec.Disks.Count);
        if (!string.IsNullOrEmpty(options.Workload))
        {
            sb.Append(" fabric.workload64=").Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(options.Workload)));
        }
        if (options.PowerOffWhenDone) sb.Append(" fabric.poweroff=1");
        if (!string.IsNullOrWhiteSpace(options.Extra)) sb.Append(' ').Append(options.Extra.Trim());
        if (sb.Length > MaxLength)
        {
            throw new ArgumentException(
                $"the guest kernel command line of VM '{spec.Name}' would be {sb.Length} bytes; the kernel takes at most {MaxLength} (shorten the workload script)");
        }
        return sb.ToString();
    }
}
