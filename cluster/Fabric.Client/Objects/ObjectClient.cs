using Fabric.Client.Messaging;
using Fabric.Core.Collections;
using Fabric.Core.Placement;
using Fabric.Proto;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Client.Objects;

/// <summary>
/// A RADOS-like object client: computes placement from the newest map, sends each op to its PG's
/// primary and resends it (same request id, new transaction id) when the map changes the PG's acting
/// set, when the primary says it is not primary, on timeout or when the connection drops. It never
/// fails an op because the cluster is degraded: below min_replicas it keeps waiting.
/// </summary>
/// <remarks>
/// Thread-safe; completions run outside the client's lock. It keeps no clock or thread of its own:
/// the owner calls <see cref="OnMap"/>, <see cref="OnMessage"/>, <see cref="OnConnectionLost"/> and
/// <see cref="Tick"/> (the simulation does so on its one thread; <see cref="ClusterClient"/> with real
/// TCP and a timer). Every outstanding op is also on a list in submission order, so slow ops are found without a
/// scan of everything (<c>ObjectClient.SlowOps.cs</c>).
/// </remarks>
public sealed partial class ObjectClient
{
    private readonly object _lock = new();
    private readonly IClientTransport _transport;
    private readonly Dictionary<ulong, PendingOp> _byTid = new();
    private readonly List<PendingOp> _parked = new();
    /// <summary>Sends decided under the lock, made after it is released (a send can block on a full socket).</summary>
    private List<(int Osd, NodeInfo Node, ClientOp Header, ReadOnlyMemory<byte> Data)> _outbox = new();
    private readonly int _resendTimeoutMs;
    private readonly ILogger _logger;
    private PlacementMap? _placement;
    private ulong _nextTid = 1;
    private ulong _nextRequest = 1;

    /// <param name="slowOpMs">Age at which an op is reported as slow (<see cref="SlowOpThreshold"/>; 0 = never).</param>
    public ObjectClient(string identity, IClientTransport transport, int resendTimeoutMs = 5000, ILogger? logger = null,
        long slowOpMs = SlowOpThreshold.DefaultMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slowOpMs);
        Identity = identity;
        _transport = transport;
        _resendTimeoutMs = resendTimeoutMs;
        _logger = logger ?? NullLogger.Instance;
        _slowOpMs = slowOpMs;
    }

    public string Identity { get; }

    public ulong Epoch
    {
        get
        {
            lock (_lock)
            {
                return _placement?.Epoch ?? 0;
            }
        }
    }

    public ClusterMap? Map
    {
        get
        {
            lock (_lock)
            {
                return _placement?.Map;
            }
        }
    }

    /// <summary>Ops submitted and not yet completed.</summary>
    public int Outstanding
    {
        get
        {
            lock (_lock)
            {
                return _byTid.Count + _parked.Count;
            }
        }
    }

    /// <summary>Starts an op; <paramref name="done"/> runs once with its result.</summary>
    public void Submit(ObjectRequest request, Action<ObjectResult> done)
    {
        var op = new PendingOp(request, done);
        lock (_lock)
        {
            op.RequestSeq = _nextRequest++;
            op.SubmittedMs = _transport.NowMs;
            _outstanding.AddNewest(op);
            SendLocked(op);
        }
        FlushOutbox();
    }

    public Task<ObjectResult> ExecuteAsync(ObjectRequest request, CancellationToken cancellationToken = default)
    {
        var tcs = new TaskCompletionSource<ObjectResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Submit(request, result => tcs.TrySetResult(result));
        if (!cancellationToken.CanBeCanceled)
        {
            return tcs.Task;
        }
        return tcs.Task.WaitAsync(cancellationToken);
    }

    /// <summary>A newer map: resend every op whose target changed, send the parked ones.</summary>
    public void OnMap(ClusterMap map)
    {
        var resend = new List<PendingOp>();
        lock (_lock)
        {
            if (_placement is not null && map.Epoch <= _placement.Epoch)
            {
                return;
            }
            _placement = PlacementMap.Build(map);
            foreach (PendingOp op in _byTid.Values)
            {
                PgMapping? mapping = MappingOf(op);
                if (mapping is null || mapping.Primary != op.TargetOsd || !SameActing(mapping.Acting, op.TargetActing))
                {
                    resend.Add(op);
                }
            }
            foreach (PendingOp op in resend)
            {
                _byTid.Remove(op.Tid);
            }
            resend.AddRange(_parked);
            _parked.Clear();
            foreach (PendingOp op in resend)
            {
                SendLocked(op);
            }
        }
        FlushOutbox();
    }

    /// <summary>The connection to an OSD broke: resend what it held.</summary>
    public void OnConnectionLost(int osd)
    {
        lock (_lock)
        {
            var resend = new List<PendingOp>();
            foreach (PendingOp op in _byTid.Values)
            {
                if (op.TargetOsd == osd)
                {
                    resend.Add(op);
                }
            }
            foreach (PendingOp op in resend)
            {
                _byTid.Remove(op.Tid);
                RequeueLocked(op);
            }
        }
    }

    /// <summary>An op whose connection broke waits again under a new tid (a late answer to the old one is ignored);
    /// the tick resends it after a short back-off: the OSD may be restarting.</summary>
    private void RequeueLocked(PendingOp op)
    {
        op.Wait = ObjectOpWait.ConnectionLost;
        op.SentMs = _transport.NowMs - _resendTimeoutMs + 200;
        op.Tid = _nextTid++;
        _byTid[op.Tid] = op;
    }

    /// <summary>Resends ops that got no answer in time, and every few seconds logs the slow ones
    /// (<see cref="CheckSlowOps"/>). Call every 50-200 ms.</summary>
    public void Tick()
    {
        bool checkSlow;
        bool resent = false;
        lock (_lock)
        {
            long now = _transport.NowMs;
            checkSlow = _slowOpMs > 0 && now >= _nextSlowCheckMs;
            List<PendingOp>? resend = null;
            foreach (PendingOp op in _byTid.Values)
            {
                if (now - op.SentMs >= _resendTimeoutMs || (op.RetryAtMs != 0 && now >= op.RetryAtMs))
                {
                    (resend ??= new List<PendingOp>()).Add(op);
                }
            }
            if (resend is not null)
            {
                resent = true;
                foreach (PendingOp op in resend)
                {
                    _byTid.Remove(op.Tid);
                    SendLocked(op);
                }
            }
        }
        if (resent)
        {
            FlushOutbox();
        }
        if (checkSlow)
        {
            CheckSlowOps();
        }
    }

    private void FlushOutbox()
    {
        List<(int Osd, NodeInfo Node, ClientOp Header, ReadOnlyMemory<byte> Data)> sends;
        lock (_lock)
        {
            if (_outbox.Count == 0)
            {
                return;
            }
            sends = _outbox;
            _outbox = new List<(int, NodeInfo, ClientOp, ReadOnlyMemory<byte>)>();
        }
        foreach ((int osd, NodeInfo node, ClientOp header, ReadOnlyMemory<byte> data) in sends)
        {
            _transport.Send(osd, node, StorageMessageType.MsgClientOp, header, data.Span);
        }
    }

    public void OnMessage(int fromOsd, StorageMessageType type, IMessage header, DataBuffer data)
    {
        if (type != StorageMessageType.MsgClientOpReply)
        {
            return;
        }
        var reply = (ClientOpReply)header;
        PendingOp? complete = null;
        ObjectResult result = default;
        lock (_lock)
        {
            if (!_byTid.TryGetValue(reply.Tid, out PendingOp? op))
            {
                return; // A reply to an earlier send of a resent op, or a duplicate.
            }
            switch (reply.Status)
            {
                case OsdStatus.Ok:
                    _byTid.Remove(reply.Tid);
                    if (op.Request.Kind == OsdOpKind.OsdOpRead)
                    {
                        Memory<byte> destination = op.Request.Destination;
                        if (data.Length != destination.Length)
                        {
                            result = ObjectResult.Failed(ObjectStatus.IoError);
                            complete = op;
                            break;
                        }
                        data.Span.CopyTo(destination.Span);
                    }
                    result = new ObjectResult(ObjectStatus.Ok, reply.Version, reply.ObjectSize, reply.Exists);
                    complete = op;
                    break;
                case OsdStatus.NotPrimary:
                case OsdStatus.NoPool when reply.MapEpoch < (_placement?.Epoch ?? 0) || MappingOf(op) is not null:
                    // Someone's map is behind: wait for ours to move, or give the OSD time to catch up.
                    if (reply.MapEpoch > (_placement?.Epoch ?? 0))
                    {
                        _byTid.Remove(reply.Tid);
                        op.NeedEpoch = reply.MapEpoch;
                        op.Wait = ObjectOpWait.NewerMap;
                        _parked.Add(op);
                    }
                    else
                    {
                        op.RetryAtMs = _transport.NowMs + 50;
                        op.Wait = ObjectOpWait.OsdMapBehind;
                    }
                    break;
                case OsdStatus.NoPool:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.NoPool);
                    complete = op;
                    break;
                case OsdStatus.Fenced:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.Fenced);
                    complete = op;
                    break;
                case OsdStatus.NotLockOwner:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.NotLockOwner);
                    complete = op;
                    break;
                case OsdStatus.NoObject:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.NoObject);
                    complete = op;
                    break;
                case OsdStatus.Invalid:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.Invalid);
                    complete = op;
                    break;
                default:
                    _byTid.Remove(reply.Tid);
                    result = ObjectResult.Failed(ObjectStatus.IoError);
                    complete = op;
                    break;
            }
            if (complete is not null)
            {
                _outstanding.Remove(complete);
            }
        }
        complete?.Done(result);
    }

    /// <summary>
    /// A read reply's header has arrived and its <paramref name="dataLength"/> data bytes follow: claims the op (no
    /// other reply, resend or map change touches it from here) and returns its destination, for the transport to
    /// receive the data straight into (no copy). Null when the reply is not an Ok answer to a read waiting for
    /// exactly that many bytes: it is then delivered through <see cref="OnMessage"/> as usual.
    /// </summary>
    public IPayloadTarget? ClaimReadData(ClientOpReply reply, int dataLength)
    {
        lock (_lock)
        {
            if (reply.Status != OsdStatus.Ok || !_byTid.TryGetValue(reply.Tid, out PendingOp? op)
                || op.Request.Kind != OsdOpKind.OsdOpRead || op.Request.Destination.Length != dataLength)
            {
                return null;
            }
            _byTid.Remove(reply.Tid);
            op.Wait = ObjectOpWait.ReplyData;
            return new ReadData(this, op, new ObjectResult(ObjectStatus.Ok, reply.Version, reply.ObjectSize, reply.Exists));
        }
    }

    /// <summary>A claimed read: complete once its data is in, or back to waiting (resent by the tick) if the connection broke.</summary>
    private sealed class ReadData(ObjectClient client, PendingOp op, ObjectResult result) : IPayloadTarget
    {
        public Memory<byte> Destination => op.Request.Destination;

        public void Complete(bool received)
        {
            if (received)
            {
                lock (client._lock)
                {
                    client._outstanding.Remove(op);
                }
                op.Done(result);
                return;
            }
            lock (client._lock)
            {
                client.RequeueLocked(op);
            }
        }
    }

    private void SendLocked(PendingOp op)
    {
        PgMapping? mapping = MappingOf(op);
        if (mapping is null || mapping.Primary < 0)
        {
            // No map yet, no such pool in it, or no member up: wait for a newer map.
            op.Wait = _placement is null ? ObjectOpWait.NoMap : mapping is null ? ObjectOpWait.NoPool : ObjectOpWait.NoPrimary;
            if (mapping is not null)
            {
                op.Pg = mapping.Pg;
            }
            _parked.Add(op);
            return;
        }
        op.Pg = mapping.Pg;
        NodeInfo? node = _placement!.FindNode(mapping.Primary);
        if (node is null)
        {
            op.Wait = ObjectOpWait.PrimaryUnknown;
            _parked.Add(op);
            return;
        }
        op.Tid = _nextTid++;
        op.TargetOsd = mapping.Primary;
        op.TargetActing = mapping.Acting;
        op.SentMs = _transport.NowMs;
        op.RetryAtMs = 0;
        op.Sends++;
        op.SentEpoch = _placement.Epoch;
        op.Wait = ObjectOpWait.Reply;
        _byTid[op.Tid] = op;
        ObjectRequest r = op.Request;
        uint length = r.Kind switch
        {
            OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp => (uint)r.Data.Length,
            OsdOpKind.OsdOpRead => (uint)r.Destination.Length,
            _ => r.Length,
        };
        var header = new ClientOp
        {
            Tid = op.Tid,
            RequestSeq = op.RequestSeq,
            MapEpoch = _placement.Epoch,
            Pool = r.Pool,
            PgSeed = mapping.Pg.Seed,
            Object = r.Object,
            Kind = r.Kind,
            Offset = r.Offset,
            Length = length,
            SnapSeq = r.SnapSeq,
            SnapId = r.SnapId,
            LockEpoch = r.LockEpoch,
            RequireExists = r.RequireExists,
        };
        if (r.Snaps is { Count: > 0 } snaps)
        {
            header.Snaps.AddRange(snaps);
        }
        _outbox.Add((mapping.Primary, node, header, r.Kind is OsdOpKind.OsdOpWrite or OsdOpKind.OsdOpCopyUp ? r.Data : default));
    }

    private PgMapping? MappingOf(PendingOp op)
    {
        if (_placement is null)
        {
            return null;
        }
        PoolInfo? pool = _placement.FindPool(op.Request.Pool);
        if (pool is null)
        {
            return null;
        }
        return _placement.Get(PlacementMap.ObjectToPg(pool, op.Request.Object));
    }

    private static bool SameActing(int[] a, int[]? b)
    {
        if (b is null || a.Length != b.Length)
        {
            return false;
        }
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }
        return true;
    }

    private sealed class PendingOp(ObjectRequest request, Action<ObjectResult> done) : IntrusiveListNode<PendingOp>
    {
        public ObjectRequest Request { get; } = request;

        public Action<ObjectResult> Done { get; } = done;

        public ulong Tid;
        public ulong RequestSeq;
        public int TargetOsd = -1;
        public int[]? TargetActing;
        public long SentMs;
        public long RetryAtMs;
        public ulong NeedEpoch;

        // Slow-op tracking: plain fields of the op, and the list links in its base class, so tracking allocates
        // nothing (ObjectClient.SlowOps.cs).
        public long SubmittedMs;
        public int Sends;
        public ulong SentEpoch;
        public PgId? Pg;
        public ObjectOpWait Wait;
        /// <summary>Threshold multiples of its age already reported (once per crossing).</summary>
        public int SlowReports;
    }
}
