using Fabric.Core.Placement;
using Fabric.Proto;

namespace Fabric.Client.Objects;

/// <summary>
/// One outstanding op of an <see cref="ObjectClient"/> as <see cref="ObjectClient.SlowOps"/> sees it: the object,
/// its PG (null while no map places it), the OSD and map epoch of its last send (-1 and 0 before the first), how
/// many times it was sent, its age since it was submitted, and what it waits for (<see cref="Wait"/>, with the
/// specifics in <see cref="Detail"/>). <see cref="Tid"/> is the transaction id of the last send, which the OSD's
/// own slow-op lines name too.
/// </summary>
public sealed record SlowObjectOp(
    string Object,
    PgId? Pg,
    OsdOpKind Kind,
    int Osd,
    ulong Epoch,
    int Sends,
    ulong Tid,
    TimeSpan Age,
    ObjectOpWait Wait,
    string Detail);
