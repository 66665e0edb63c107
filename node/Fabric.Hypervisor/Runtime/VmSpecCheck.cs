using System.Net;
using System.Text.RegularExpressions;
using Fabric.Core.Io;
using Fabric.Proto;

namespace Fabric.Hypervisor.Runtime;

/// <summary>
/// Checks a VM spec before anything is created for it, so that a bad spec is refused with a message that
/// names the field and the fix, and never leaves half a VM behind. Checks that need the cluster map
/// (networks exist, memory fits a node, volume not used elsewhere) belong to the node and the scheduler.
/// </summary>
public static class VmSpecCheck
{
    public const ulong MinMemoryBytes = 32UL * 1024 * 1024;
    private const int MaxUnixSocketPath = 107;
    private static readonly Regex NamePattern = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", RegexOptions.CultureInvariant);
    private static readonly Regex MacPattern = new("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$", RegexOptions.CultureInvariant);

    /// <returns>null when the spec is usable, else the reason.</returns>
    public static string? Validate(VmSpec spec, VmRuntimeOptions options)
    {
        if (!NamePattern.IsMatch(spec.Name ?? ""))
        {
            return $"VM name '{spec.Name}' is not valid: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit";
        }
        var who = $"VM '{spec.Name}'";
        if (spec.Vcpus > 64) return $"{who}: vcpus = {spec.Vcpus} is more than 64";
        if (spec.MemoryBytes < MinMemoryBytes) return $"{who}: memory = {spec.MemoryBytes} bytes is less than 32 MiB";
        if (spec.MemoryBytes % (1024 * 1024) != 0) return $"{who}: memory must be a whole number of MiB";
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var d = spec.Disks[i];
            if (string.IsNullOrWhiteSpace(d.Volume)) return $"{who}: disk {i} names no volume";
            if (d.Transport is not ("" or "vhost-user" or "nbd")) return $"{who}: disk {i} transport '{d.Transport}' is not vhost-user or nbd";
            if (!DiskCacheModes.TryParse(d.Cache, out _)) return $"{who}: disk {i} cache '{d.Cache}' is not one of {DiskCacheModes.Expected}";
            if (!volumes.Add(d.Volume)) return $"{who}: volume '{d.Volume}' is attached twice";
        }
        var portNames = new HashSet<string>(StringComparer.Ordinal);
        var macs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < spec.Nics.Count; i++)
        {
            var n = spec.Nics[i];
            if (string.IsNullOrWhiteSpace(n.Network)) return $"{who}: NIC {i} names no network";
            if (!string.IsNullOrEmpty(n.Mac) && !MacPattern.IsMatch(n.Mac)) return $"{who}: NIC {i} MAC '{n.Mac}' is not like 52:54:00:12:34:56";
            var mac = string.IsNullOrEmpty(n.Mac) ? MacAddress.Derive(spec.Name!, i) : n.Mac;
            if (!macs.Add(mac)) return $"{who}: MAC {mac} is used by two NICs";
            if (!string.IsNullOrEmpty(n.Ip) && !IPNetwork.TryParse(n.Ip, out _)) return $"{who}: NIC {i} ip '{n.Ip}' is not an address with a prefix (10.10.0.11/24)";
            if (!portNames.Add(PortName(spec, i))) return $"{who}: two NICs have the port name '{PortName(spec, i)}'";
        }
        if (spec.BootFromDisk)
        {
            if (spec.Disks.Count == 0) return $"{who}: boot_from_disk needs at least one disk";
        }
        else
        {
            var kernel = string.IsNullOrEmpty(spec.Kernel) ? options.DefaultGuestImage?.Kernel : spec.Kernel;
            if (kernel is null) return $"{who}: no kernel given and no default guest image (run `fabric image build`, or set boot_from_disk)";
            if (!File.Exists(kernel)) return $"{who}: kernel '{kernel}' does not exist";
            var initrd = string.IsNullOrEmpty(spec.Kernel) ? options.DefaultGuestImage?.Initrd : spec.Initrd;
            if (!string.IsNullOrEmpty(initrd) && !File.Exists(initrd)) return $"{who}: initrd '{initrd}' does not exist";
        }
        if (spec.Accel is not ("" or "auto" or "kvm" or "tcg")) return $"{who}: accel '{spec.Accel}' is not auto, kvm or tcg";
        if (spec.Restart is not ("" or "no" or "on-crash")) return $"{who}: restart '{spec.Restart}' is not no or on-crash";
        var longest = Path.Combine(options.RunDirectory, spec.Name!, $"nic{Math.Max(spec.Nics.Count, 1) - 1}.sock");
        if (longest.Length > MaxUnixSocketPath) return $"{who}: socket path {longest} is longer than {MaxUnixSocketPath} bytes (use a shorter run directory)";
        return null;
    }

    /// <summary>The switch port name of NIC <paramref name="index"/>: its spec's, or "VM-INDEX".</summary>
    public static string PortName(VmSpec spec, int index) =>
        string.IsNullOrEmpty(spec.Nics[index].Port) ? $"{spec.Name}-{index}" : spec.Nics[index].Port;
}
