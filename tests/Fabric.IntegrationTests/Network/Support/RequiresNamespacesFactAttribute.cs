using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// A fact that needs network namespaces (root, iproute2) and tshark. Outside CI a missing prerequisite
/// skips the test with the reason; under CI=true the test runs and fails on it loudly.
/// </summary>
public sealed class RequiresNamespacesFactAttribute : FactAttribute
{
    public RequiresNamespacesFactAttribute()
    {
        if (Prerequisite.InCi) return;
        var missing = Missing();
        if (missing.Count > 0) Skip = $"needs {string.Join(", ", missing)}; under CI=true this test fails instead";
    }

    public static List<string> Missing()
    {
        var missing = new List<string>();
        if (Environment.UserName != "root" && geteuid() != 0) missing.Add("root (network namespaces, AF_PACKET)");
        if (Prerequisite.Which("ip") is null) missing.Add("ip (apt-get install iproute2)");
        if (Prerequisite.Which("tshark") is null) missing.Add("tshark (apt-get install tshark)");
        return missing;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
