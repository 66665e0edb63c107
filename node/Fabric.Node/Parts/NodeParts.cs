using Fabric.Config.Model;
using Microsoft.Extensions.Logging;

namespace Fabric.Node.Parts;

/// <summary>The parts a node runs, in start order.</summary>
public static class NodeParts
{
    public static IEnumerable<INodePart> Create(ClusterConfig config, NodeConfig node, ILoggerFactory loggers)
    {
        return [new StoragePart(), new SwitchPart(), new BlockPart(), new HypervisorPart()];
    }
}
