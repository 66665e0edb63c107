using Fabric.Proto;

namespace Fabric.Client.Objects;

/// <summary>
/// The newest cluster map a client knows, and a way to wait for a newer one. The node implements it
/// from its monitor watch; tests from a fixed or hand-advanced map (<see cref="StaticMapSource"/>).
/// </summary>
public interface IMapSource
{
    ClusterMap Current { get; }

    /// <summary>Completes with a map whose epoch is greater than <paramref name="epoch"/>.</summary>
    Task<ClusterMap> WaitForNewerAsync(ulong epoch, CancellationToken cancellationToken);
}
