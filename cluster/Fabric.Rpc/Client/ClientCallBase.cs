using Fabric.Rpc.Protocol;

namespace Fabric.Rpc.Client;

/// <summary>The untyped face of a client call that the public call objects share.</summary>
internal abstract class ClientCallBase : IDisposable
{
    public abstract Task<Metadata> ResponseHeadersAsync { get; }

    public abstract Status GetStatus();

    public abstract Metadata GetTrailers();

    public abstract void Dispose();
}
