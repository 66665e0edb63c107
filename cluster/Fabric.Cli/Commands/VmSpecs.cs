using System.Text;
using Fabric.Config.Loading;
using Fabric.Config.Model;
using Fabric.Config.Plan;
using Fabric.Core.Io;
using Fabric.Core.Map;
using Fabric.Core.Units;
using Fabric.Proto;

namespace Fabric.Cli.Commands;

/// <summary>
/// VM specs for `fabric vm create`: from flags or from a file of [[vm]] tables, through the same mapping as
/// `fabric up` (<see cref="ConfigMapping.ToVmSpec"/>), so a VM is the same whichever way it was made.
/// </summary>
public static class VmSpecs
{
    /// <summary>The flags of `vm create` (everything but the name is optional).</summary>
    public sealed record Flags
    {
        public string Memory { get; init; } = "256MiB";
        public int Vcpus { get; init; } = 1;
        public IReadOnlyList<string> Disks { get; init; } = [];
        public IReadOnlyList<string> Nics { get; init; } = [];
        public string? Image { get; init; }
        public string? Kernel { get; init; }
        public string? Initrd { get; init; }
        public string? Cmdline { get; init; }
        public string? Workload { get; init; }
        public string? Node { get; init; }
        public string? Restart { get; init; }
        public string? Accel { get; init; }
        public string? StopTimeout { get; init; }
        public bool Ha { get; init; }
        public bool BootFromDisk { get; init; }
    }

    /// <summary>
    /// One <c>--disk</c>: <c>VOL[:ro][,cache=MODE]</c>, the volume, optionally read-only, and optionally its cache
    /// mode as a <c>[[vm.disk]]</c> table's <c>cache</c> key takes it (the option syntax of Proxmox's and
    /// virt-install's disks).
    /// </summary>
    internal static VmDiskConfig ParseDisk(string d)
    {
        var parts = d.Split(',');
        var readOnly = parts[0].EndsWith(":ro", StringComparison.Ordinal);
        var volume = readOnly ? parts[0][..^3] : parts[0];
        if (!MapTransactions.IsName(volume)) throw Usage($"--disk {d}: expected a volume name, then ':ro' for read-only and ',cache=MODE' if wanted (e.g. 'data:ro' or 'data,cache=writethrough')");
        var cache = DiskCacheMode.Default;
        bool cacheSet = false;
        foreach (var option in parts.Skip(1))
        {
            const string cacheKey = "cache=";
            if (!option.StartsWith(cacheKey, StringComparison.Ordinal))
            {
                throw Usage($"--disk {d}: unknown option '{option}'; the one option a disk takes is cache=MODE, with MODE one of {DiskCacheModes.Expected}");
            }
            if (cacheSet) throw Usage($"--disk {d}: cache is given twice; give it once");
            var text = option[cacheKey.Length..];
            if (text.Length == 0 || !DiskCacheModes.TryParse(text, out cache))
            {
                throw Usage($"--disk {d}: unknown cache mode '{text}'; expected one of {DiskCacheModes.Expected}");
            }
            cacheSet = true;
        }
        return new VmDiskConfig { Volume = volume, ReadOnly = readOnly, Cache = cache };
    }

    public static VmSpec FromFlags(string name, Flags flags, ClusterMap map)
    {
        if (!MapTransactions.IsName(name)) throw Usage($"VM name '{name}' is not valid: use letters, digits, '-', '_' and '.' (1-63 characters)");
        if (!ByteSize.TryParse(flags.Memory, out var memory, out var memoryError)) throw Usage($"--memory: {memoryError}");
        if (memory < ByteSize.FromMiB(16) || memory.Bytes % ByteSize.MiB != 0) throw Usage($"--memory {flags.Memory}: a VM needs a whole number of MiB, at least 16MiB");
        if (flags.Vcpus is < 1 or > 64) throw Usage($"--vcpus {flags.Vcpus}: between 1 and 64");
        var stopTimeout = VmConfig.DefaultStopTimeout;
        if (flags.StopTimeout is { } text && !DurationText.TryParse(text, out stopTimeout, out var durationError)) throw Usage($"--stop-timeout: {durationError}");
        var disks = flags.Disks.Select(ParseDisk).ToList();
        var nics = flags.Nics.Select((n, i) => ParseNic(name, n, i)).ToList();
        if (flags.Image is not null && flags.Kernel is not null) throw Usage("set either --image or --kernel, not both");
        if (flags.BootFromDisk && (flags.Image is not null || flags.Kernel is not null)) throw Usage("--boot-from-disk boots the first disk: leave out --image and --kernel");
        if (flags.BootFromDisk && disks.Count == 0) throw Usage("--boot-from-disk needs a --disk to boot from");
        var image = flags.Image ?? (flags.Kernel is null && !flags.BootFromDisk ? "tiny" : null);
        var vm = new VmConfig
        {
            Name = name,
            Node = flags.Node,
            Vcpus = flags.Vcpus,
            Memory = memory,
            Image = image,
            Kernel = flags.Kernel,
            Initrd = flags.Initrd,
            Cmdline = flags.Cmdline,
            Workload = flags.Workload,
            Ha = flags.Ha,
            Restart = flags.Restart switch
            {
                null or "no" => VmRestartPolicy.No,
                "on-crash" => VmRestartPolicy.OnCrash,
                _ => throw Usage($"--restart {flags.Restart}: expected no or on-crash"),
            },
            Accel = flags.Accel switch
            {
                null or "auto" => VmAccel.Auto,
                "kvm" => VmAccel.Kvm,
                "tcg" => VmAccel.Tcg,
                _ => throw Usage($"--accel {flags.Accel}: expected auto, kvm or tcg"),
            },
            StopTimeout = stopTimeout,
            Disks = disks,
            Nics = nics,
        };
        return FromConfig(vm, map);
    }

    /// <summary>The VMs of a file of [[vm]] tables; errors name file:line.</summary>
    public static IReadOnlyList<VmSpec> FromFile(string path, ClusterMap map, Output.Output output)
    {
        if (!File.Exists(path)) throw Usage($"VM file {path} does not exist");
        var loaded = VmFileLoader.Load(path);
        foreach (var warning in loaded.Warnings) output.Note(warning.ToString());
        if (!loaded.Succeeded)
        {
            throw new CliException(string.Join(Environment.NewLine, loaded.Errors.Select(e => e.ToString())) +
                $"{Environment.NewLine}fabric: {path} is not valid ({loaded.Errors.Count()} error(s)); fix the lines above", CliException.Usage);
        }
        return loaded.Config!.Vms.Select(vm => FromConfig(vm, map)).ToList();
    }

    /// <summary>The spec of a config VM, with the gateway of its first NIC's network from the map.</summary>
    public static VmSpec FromConfig(VmConfig vm, ClusterMap map)
    {
        var spec = ConfigMapping.ToVmSpec(vm, null, VmBootOptions.Default);
        if (vm.Image is not null && !spec.Cmdline.Contains("fabric.gw=", StringComparison.Ordinal))
        {
            var gateway = vm.Nics.Select(n => map.FindNetwork(n.Network)?.Gateway).FirstOrDefault(g => !string.IsNullOrEmpty(g));
            if (gateway is not null) spec.Cmdline += " fabric.gw=" + gateway;
        }
        return spec;
    }

    /// <summary>"net=overlay,mac=52:54:00:0a:00:0d,ip=10.10.0.13/24" (mac and ip optional; the MAC is derived from the VM name when absent).</summary>
    public static VmNicConfig ParseNic(string vmName, string text, int index)
    {
        string? network = null, mac = null, ip = null, port = null;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw Usage($"--nic {text}: expected key=value pairs such as net=overlay,mac=52:54:00:0a:00:0d,ip=10.10.0.13/24");
            var value = part[(eq + 1)..];
            switch (part[..eq])
            {
                case "net" or "network": network = value; break;
                case "mac": mac = value; break;
                case "ip": ip = value; break;
                case "port": port = value; break;
                default: throw Usage($"--nic {text}: unknown key '{part[..eq]}' (net, mac, ip, port)");
            }
        }
        if (network is null) throw Usage($"--nic {text}: net=NETWORK is required");
        MacAddress macAddress;
        if (mac is null) MacAddress.TryParse(DeriveMac(vmName, index), out macAddress, out _);
        else if (!MacAddress.TryParse(mac, out macAddress, out var macError)) throw Usage($"--nic {text}: {macError}");
        InterfaceAddress? address = null;
        if (ip is not null)
        {
            if (!InterfaceAddress.TryParse(ip, out var parsed, out var ipError)) throw Usage($"--nic {text}: {ipError}");
            address = parsed;
        }
        return new VmNicConfig { Network = network, Mac = macAddress, Ip = address, Port = port };
    }

    /// <summary>A stable locally administered MAC (QEMU's 52:54:00 range) from the VM name and NIC index (FNV-1a),
    /// the same rule the hypervisor uses for NICs without one, so the map always knows a VM's MACs.</summary>
    public static string DeriveMac(string vmName, int nicIndex)
    {
        uint h = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes($"{vmName}/{nicIndex}"))
        {
            h = (h ^ b) * 16777619;
        }
        return $"52:54:00:{(h >> 16) & 0xff:x2}:{(h >> 8) & 0xff:x2}:{h & 0xff:x2}";
    }

    private static CliException Usage(string message) => new(message, CliException.Usage);
}
