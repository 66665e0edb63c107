namespace Fabric.Rpc.Protocol;

/// <summary>
/// The outcome of a call: a code and a human-readable detail (the <c>grpc-message</c> trailer,
/// unicode; percent-encoded only on the wire).
/// </summary>
public readonly record struct Status(StatusCode Code, string Detail)
{
    public static readonly Status Ok = new(StatusCode.OK, "");

    public bool IsOk => Code == StatusCode.OK;

    public override string ToString() => $"Status(StatusCode=\"{Code}\", Detail=\"{Detail}\")";
}
