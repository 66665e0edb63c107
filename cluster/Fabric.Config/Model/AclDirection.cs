namespace Fabric.Config.Model;

public enum AclDirection
{
    /// <summary>No direction given: the rule matches traffic both ways.</summary>
    Both,

    /// <summary>"in": towards the VM port.</summary>
    In,

    /// <summary>"out": from the VM port.</summary>
    Out,
}
