using Fabric.Rpc.Protocol;

namespace Fabric.Rpc.Client;

/// <summary>
/// Per-call options: a deadline (absolute) or timeout (relative; the earlier wins when both are set),
/// a cancellation token, and request metadata.
/// </summary>
public readonly record struct CallOptions
{
    public DateTimeOffset? Deadline { get; init; }

    public TimeSpan? Timeout { get; init; }

    public CancellationToken CancellationToken { get; init; }

    public Metadata? Headers { get; init; }

    public static CallOptions WithTimeout(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        new() { Timeout = timeout, CancellationToken = cancellationToken };

    internal DateTimeOffset? ResolveDeadline(TimeProvider time)
    {
        DateTimeOffset? fromTimeout = Timeout is { } t ? time.GetUtcNow() + t : null;
        return (Deadline, fromTimeout) switch
        {
            (null, null) => null,
            ({ } d, null) => d,
            (null, { } f) => f,
            ({ } d, { } f) => d < f ? d : f,
        };
    }
}
