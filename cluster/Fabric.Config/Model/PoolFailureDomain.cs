namespace Fabric.Config.Model;

/// <summary>The level of the failure-domain tree whose members each hold at most one replica.</summary>
public enum PoolFailureDomain
{
    /// <summary>"host": replicas on distinct hosts (the last element of a node's failure_domain path).</summary>
    Host,

    /// <summary>"rack": replicas in distinct racks (the path without its last element).</summary>
    Rack,
}
