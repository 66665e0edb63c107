using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.Storage.Osd;

/// <summary>
/// One client op an OSD accepted and has not answered, as <see cref="OsdCore.SlowOps"/> sees it: the object, its
/// PG and the PG's state on this OSD ("peering", "active+clean", ...), the client and the op's transaction id
/// (the client's slow-op lines name it too), the map epoch the client sent it with and this OSD's, the age since
/// this OSD received it, and what it waits for (<see cref="Wait"/>, with the specifics in <see cref="Detail"/>:
/// which OSDs have not answered, the min_replicas arithmetic, ...).
/// </summary>
public sealed record SlowOsdOp(
    string Object,
    PgId Pg,
    string PgState,
    string Client,
    ulong Tid,
    OsdOpKind Kind,
    ulong OpEpoch,
    ulong OsdEpoch,
    TimeSpan Age,
    OsdOpWait Wait,
    string Detail);
