namespace Fabric.Storage.Osd;

/// <summary>What a client op the primary accepted and has not answered waits for (<see cref="OsdCore.SlowOps"/>).</summary>
public enum OsdOpWait
{
    /// <summary>The op carries a newer map epoch than this OSD has: held until the map arrives.</summary>
    NewerMap,
    /// <summary>The PG is peering (queries, the authoritative log or listing, or activations outstanding).</summary>
    Peering,
    /// <summary>The PG is down: a past interval that may have acknowledged writes has no member answering.</summary>
    PgDown,
    /// <summary>The PG peered but has fewer than min_replicas members up.</summary>
    MinReplicas,
    /// <summary>Queued in the PG while it is in no state above (a transition in progress).</summary>
    PgQueue,
    /// <summary>A write applied here and sent to the acting set, not yet durable on every member.</summary>
    ReplicaAcks,
    /// <summary>The object is missing on a member (or unfound) and must be recovered first.</summary>
    ObjectRecovery,
    /// <summary>A read waiting for earlier writes to the same object to be acknowledged.</summary>
    ObjectWrites,
    /// <summary>A write held while a scrub compares the chunk holding its object.</summary>
    ScrubChunk,
    /// <summary>Held by no queue of this OSD although it was never answered: a bug, and what these reports look for.</summary>
    NotHeld,
}
