using System.Globalization;

namespace Fabric.Cli.Output;

/// <summary>Human-readable sizes and durations for tables.</summary>
public static class Units
{
    public static string Bytes(ulong bytes) => Bytes((double)bytes);

    public static string Bytes(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        var unit = 0;
        while (bytes >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes:0} B" : bytes.ToString(bytes >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
