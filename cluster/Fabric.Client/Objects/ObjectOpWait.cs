namespace Fabric.Client.Objects;

/// <summary>What an outstanding object op waits for, as far as the client can tell (<see cref="ObjectClient.SlowOps"/>).</summary>
public enum ObjectOpWait
{
    /// <summary>The client has no cluster map yet.</summary>
    NoMap,
    /// <summary>The op's pool is not in the client's map (parked until a map has it).</summary>
    NoPool,
    /// <summary>No member of the op's PG is up in the client's map: there is no primary to send to.</summary>
    NoPrimary,
    /// <summary>The PG's primary has no node entry (no address) in the client's map.</summary>
    PrimaryUnknown,
    /// <summary>The primary answered with a newer map epoch than the client's: parked until the client has it.</summary>
    NewerMap,
    /// <summary>Sent; no answer yet. The primary holds ops while its PG peers or has fewer than min_replicas
    /// members, and while the op's replicas have not acknowledged it: the OSD's own slow-op log says which.</summary>
    Reply,
    /// <summary>The primary answered NotPrimary (or NoPool) with a map no newer than the client's: its map is behind, or
    /// it does not take itself for up and primary in that map. Resent every 50 ms; a send count that keeps climbing
    /// says the OSD never comes round.</summary>
    OsdMapBehind,
    /// <summary>The connection to the OSD broke with the op outstanding: resent after a short back-off.</summary>
    ConnectionLost,
    /// <summary>An Ok read reply's header arrived; its data is being received straight into the caller's buffer.</summary>
    ReplyData,
}
