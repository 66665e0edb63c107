namespace Fabric.Hypervisor.Qemu;

/// <summary>A NIC as QEMU sees it: QEMU listens on <paramref name="SocketPath"/> (`-netdev stream,server=on`) and
/// the switch connects to it.</summary>
/// <param name="Mac">"52:54:00:12:34:56".</param>
public sealed record QemuNic(string SocketPath, string Mac);
