namespace Fabric.Config.Model;

public enum AclProtocol
{
    Any,
    Tcp,
    Udp,
    Icmp,
}
