// A [Fact] that needs something from the machine. When the prerequisite is missing the test is skipped
// with the reason, except under CI=true, where it runs and fails loudly on the missing prerequisite.
namespace Fabric.Switch.Tests.Support;

[Flags]
public enum Needs
{
    None = 0,
    Tshark = 1,
    Root = 2,
    Iproute = 4,
}

public sealed class MachineFactAttribute : FactAttribute
{
    public MachineFactAttribute(Needs needs)
    {
        if (Requirements.InCi) return;
        var missing = new List<string>();
        if (needs.HasFlag(Needs.Tshark) && !Requirements.HasCommand("tshark")) missing.Add("tshark (apt-get install tshark)");
        if (needs.HasFlag(Needs.Root) && !Requirements.IsRoot) missing.Add("root");
        if (needs.HasFlag(Needs.Iproute) && !Requirements.HasCommand("ip")) missing.Add("ip (apt-get install iproute2)");
        if (missing.Count > 0) Skip = "needs " + string.Join(", ", missing);
    }
}
