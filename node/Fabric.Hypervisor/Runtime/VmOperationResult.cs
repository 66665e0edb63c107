namespace Fabric.Hypervisor.Runtime;

/// <summary>The outcome of a VM operation: expected failures are values with a message that names the fix.</summary>
public readonly record struct VmOperationResult(VmErrorCode Code, string? Error)
{
    public bool Ok => Code == VmErrorCode.None;
    public static VmOperationResult Success => new(VmErrorCode.None, null);
    public static VmOperationResult Fail(VmErrorCode code, string error) => new(code, error);
    public override string ToString() => Ok ? "ok" : $"{Code}: {Error}";
}
