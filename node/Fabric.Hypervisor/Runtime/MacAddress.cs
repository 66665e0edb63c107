using System.Text;

namespace Fabric.Hypervisor.Runtime;

/// <summary>MAC addresses for VM NICs that have none in their spec.</summary>
public static class MacAddress
{
    /// <summary>A stable, locally administered MAC in QEMU's 52:54:00 range from the VM name and NIC
    /// index (FNV-1a): the same VM gets the same MAC on every node and every restart.</summary>
    public static string Derive(string vmName, int nicIndex)
    {
        uint h = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes($"{vmName}/{nicIndex}"))
        {
            h = (h ^ b) * 16777619;
        }
        return $"52:54:00:{(h >> 16) & 0xff:x2}:{(h >> 8) & 0xff:x2}:{h & 0xff:x2}";
    }
}
