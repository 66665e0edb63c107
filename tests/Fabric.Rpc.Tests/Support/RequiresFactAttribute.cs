namespace Fabric.Rpc.Tests.Support;

/// <summary>
/// A fact that needs an outside program. Outside CI it is skipped (with the reason) when the program is
/// missing; under CI=true it always runs, so a missing prerequisite fails loudly instead of hiding.
/// </summary>
public sealed class RequiresFactAttribute : FactAttribute
{
    public RequiresFactAttribute(string program, string installHint)
    {
        if (!ExternalProcess.InCi && ExternalProcess.Which(program) is null)
        {
            Skip = $"'{program}' is not installed ({installHint}); under CI=true this test fails instead.";
        }
    }
}
