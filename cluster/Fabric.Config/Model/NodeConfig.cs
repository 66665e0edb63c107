using System.Net;
using Fabric.Core.Units;

namespace Fabric.Config.Model;

/// <summary>One <c>[[node]]</c>: a machine running the Fabric daemon.</summary>
public sealed record NodeConfig
{
    public const int DefaultStoragePort = 6800;
    public const int DefaultVxlanPort = 4789;

    public required string Name { get; init; }

    /// <summary>The node's gRPC API (CLI, monitors, peers).</summary>
    public required HostPort Grpc { get; init; }

    /// <summary>Data-plane address: VXLAN tunnel endpoint and storage traffic.</summary>
    public required IPAddress Data { get; init; }

    /// <summary>TCP port for object I/O and replication on <see cref="Data"/>.</summary>
    public int StoragePort { get; init; } = DefaultStoragePort;

    /// <summary>Prometheus /metrics endpoint; null: not served.</summary>
    public HostPort? Metrics { get; init; }

    /// <summary>Failure-domain path, outermost first ("rack1/n1"); the last element is the host. Default: the node name.</summary>
    public required string FailureDomain { get; init; }

    /// <summary>Storage this node offers.</summary>
    public required ByteSize Capacity { get; init; }

    /// <summary>Memory this node offers to VMs (0: runs no VMs).</summary>
    public ByteSize VmMemory { get; init; }

    /// <summary>vCPUs this node offers to VMs (0: runs no VMs).</summary>
    public int VmCpus { get; init; }

    /// <summary>
    /// Allocate each VM's whole memory when its QEMU starts (true, the default) rather than page by page as
    /// the guest first touches it. vhost-user guest memory is shared and never reclaimed once touched, so
    /// on-demand allocation saves only what a guest never uses, and it makes a live migration pay a page
    /// fault per 4 KiB page on both sides (~0.4 s per 256 MiB here); an overcommitted node also fails at
    /// VM start instead of OOM-killing a running guest later.
    /// </summary>
    public bool VmMemoryPrealloc { get; init; } = true;

    /// <summary>Where the node keeps its object store; null: the caller's default, $FABRIC_HOME/data/&lt;name&gt;.</summary>
    public string? StoragePath { get; init; }

    /// <summary>Physical interface carrying VLAN networks' tagged frames; null: none.</summary>
    public string? Uplink { get; init; }

    /// <summary>
    /// Memory of the node's block cache (FASTER; hot blocks of the volumes whose lock this node holds), a
    /// power of two; zero (the default): no cache.
    /// </summary>
    public ByteSize BlockCache { get; init; }

    /// <summary>
    /// The node's volatile write cache per writable volume it serves (like librbd's writeback cache): writes are
    /// acknowledged from memory and made durable on every replica by the next flush (or within a second);
    /// this is the most unflushed data held per volume. Zero (the default): every write is acknowledged only
    /// once durable on every replica.
    /// </summary>
    public ByteSize WriteCache { get; init; }

    /// <summary>UDP port of the VXLAN tunnel endpoint on <see cref="Data"/>.</summary>
    public int VxlanPort { get; init; } = DefaultVxlanPort;

    public ConfigSource Source { get; init; } = ConfigSource.None;

    /// <summary>The host element of the failure-domain path.</summary>
    public string HostDomain => FailureDomain.Split('/')[^1];

    /// <summary>The rack part of the failure-domain path (all but the host element); empty when the path has one element.</summary>
    public string RackDomain
    {
        get
        {
            var slash = FailureDomain.LastIndexOf('/');
            return slash < 0 ? string.Empty : FailureDomain[..slash];
        }
    }
}
