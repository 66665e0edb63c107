namespace Fabric.Storage.Osd;

/// <summary>Where a PG is in its life on this OSD.</summary>
public enum PgPhase
{
    /// <summary>This OSD holds data of the PG but is not in its acting set.</summary>
    Stray,
    /// <summary>Acting replica waiting for the primary's query or activation.</summary>
    ReplicaWaiting,
    /// <summary>Acting replica activated for the current session.</summary>
    ReplicaActive,
    /// <summary>Primary collecting infos from every up OSD.</summary>
    Peering,
    /// <summary>Primary fetching the authoritative log.</summary>
    GettingLog,
    /// <summary>Primary fetching the authoritative object listing (it needs backfill itself).</summary>
    GettingListing,
    /// <summary>Primary waiting for the acting set to persist the activation.</summary>
    Activating,
    Active,
    /// <summary>Primary cannot prove it knows every acknowledged write: a member of a past interval that
    /// may have acknowledged writes is down. Waits for the map to change.</summary>
    Down,
    /// <summary>Peered but fewer than min_replicas members are up: I/O waits.</summary>
    Undersized,
}
