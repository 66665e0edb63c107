namespace Fabric.Hypervisor.Guest;

/// <summary>A built guest image: the kernel, its initramfs and the kernel version they belong to.</summary>
public sealed record GuestImagePaths(string Kernel, string Initrd, string KernelVersion);
