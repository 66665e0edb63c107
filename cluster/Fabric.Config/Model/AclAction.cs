namespace Fabric.Config.Model;

public enum AclAction
{
    Allow,
    Deny,
}
