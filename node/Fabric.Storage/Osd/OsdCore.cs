using System.Diagnostics;
using Fabric.Client.Messaging;
using Fabric.Core.Placement;
using Fabric.Proto;
using Fabric.Storage.Store;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Storage.Osd;

/// <summary>
/// One OSD as a single-threaded state machine: it reacts to maps, messages, commit completions and
/// ticks, and acts only through <see cref="IOsdEnvironment"/>. It never blocks, starts no threads and
/// reads no clock of its own, so the simulation runs the same code deterministically; the real node
/// wraps it in <see cref="OsdHost"/>, which feeds it from one event-loop thread.
/// </summary>
/// <remarks>
/// Concerns live in partial files: <c>OsdCore.Peering.cs</c> (map changes, peering, activation),
/// <c>OsdCore.Replication.cs</c> (client ops, replication), <c>OsdCore.Replica.cs</c> (the replica's
/// side), <c>OsdCore.Recovery.cs</c> (recovery and backfill), <c>OsdCore.Log.cs</c> (PG log, merge,
/// persistence) and <c>OsdCore.Status.cs</c>. The protocol is described at the top of
/// <c>OsdCore.Peering.cs</c> and <c>OsdCore.Replication.cs</c>.
/// </remarks>
public sealed partial class OsdCore
{
    private readonly int _osd;
    private readonly IObjectStore _store;
    private readonly IOsdEnvironment _env;
    private readonly OsdOptions _options;
    private readonly Dictionary<ulong, PgState> _pgs = new();
    /// <summary>Every PG's interval history as this OSD saw it in the maps it processed.</summary>
    private readonly Dictionary<ulong, List<PgInterval>> _history = new();
    /// <summary>Epoch ranges whose maps this OSD processed (persisted): where its history is complete.</summary>
    private readonly List<EpochRange> _coverage = new();
    private readonly Dictionary<long, string> _clients = new();
    private readonly List<PendingClientOp> _waitingForMap = new();
    private readonly List<(int From, PgQuery Query)> _deferredQueries = new();
    private readonly HashSet<string> _blocklist = new(StringComparer.Ordinal);
    private PlacementMap? _placement;
    private ulong _epoch;
    /// <summary>The node's incarnation this OSD serves as: the options' at start, then each rejoin's (<see cref="OnIncarnation"/>).</summary>
    private ulong _incarnation;
    private uint _sessionCounter;
    private bool _started;
    private long _recoveryTokens;
    private long _lastTickMs;

    /// <param name="logger">Where slow ops (<c>OsdCore.SlowOps.cs</c>) and refused reuses of a request id are reported.</param>
    public OsdCore(int osd, IObjectStore store, IOsdEnvironment env, OsdOptions? options = null, ILogger? logger = null)
    {
        _osd = osd;
        _store = store;
        _env = env;
        _options = options ?? new OsdOptions();
        _incarnation = _options.Incarnation;
        _logger = logger ?? NullLogger.Instance;
    }

    public int Id => _osd;

    public ulong Epoch => _epoch;

    /// <summary>The node incarnation this OSD serves as (0: unknown, any incarnation in the map is this process).</summary>
    public ulong Incarnation => _incarnation;

    /// <summary>Client ops completed (stat).</summary>
    public long ClientOps { get; private set; }

    /// <summary>Latency per stage of the ops this OSD served (written on the loop; readable from any thread).</summary>
    public OsdPerfCounters Perf { get; } = new();

    public long RecoveredObjects { get; private set; }

    /// <summary>Called with every log entry this OSD creates as primary, before it is replicated
    /// (the simulation's fencing checker).</summary>
    internal Action<PgLogEntry>? EntryCreated { get; set; }

    /// <summary>Loads the persisted PGs. Call once before anything else.</summary>
    public void Start()
    {
        Debug.Assert(!_started);
        _started = true;
        LoadSuperblock();
        LoadPgs();
    }

    /// <summary>A client connection said who it is.</summary>
    public void OnClientHello(long connection, string identity) => _clients[connection] = identity;

    public void OnClientClosed(long connection) => _clients.Remove(connection);

    /// <summary>Dispatches one received message. Data is valid for the call; the core takes references it keeps.</summary>
    public void OnOsdMessage(int from, StorageMessageType type, IMessage header, DataBuffer data)
    {
        switch (type)
        {
            case StorageMessageType.MsgRepOp:
                HandleRepOp(from, (RepOp)header, data);
                break;
            case StorageMessageType.MsgRepOpReply:
                HandleRepOpReply(from, (RepOpReply)header);
                break;
            case StorageMessageType.MsgPgQuery:
                HandleQuery(from, (PgQuery)header);
                break;
            case StorageMessageType.MsgPgNotify:
                HandleNotify(from, (PgNotify)header);
                break;
            case StorageMessageType.MsgPgLogRequest:
                HandleLogRequest(from, (PgLogRequest)header);
                break;
            case StorageMessageType.MsgPgLogReply:
                HandleLogReply(from, (PgLogReply)header);
                break;
            case StorageMessageType.MsgPgListRequest:
                HandleListRequest(from, (PgListRequest)header);
                break;
            case StorageMessageType.MsgPgListReply:
                HandleListReply(from, (PgListReply)header);
                break;
            case StorageMessageType.MsgPgActivate:
                HandleActivate(from, (PgActivate)header);
                break;
            case StorageMessageType.MsgPgActivateReply:
                HandleActivateReply(from, (PgActivateReply)header);
                break;
            case StorageMessageType.MsgPush:
                HandlePush(from, (Push)header, data);
                break;
            case StorageMessageType.MsgPushReply:
                HandlePushReply(from, (PushReply)header);
                break;
            case StorageMessageType.MsgPullRequest:
                HandlePullRequest(from, (PullRequest)header);
                break;
            case StorageMessageType.MsgPgRemove:
                HandlePgRemove(from, (PgRemove)header);
                break;
            case StorageMessageType.MsgScrubRequest:
                HandleScrubRequest(from, (ScrubRequest)header);
                break;
            case StorageMessageType.MsgScrubMap:
                HandleScrubMap(from, (ScrubMap)header);
                break;
            default:
                break;
        }
    }

    public void OnClientMessage(long connection, StorageMessageType type, IMessage header, DataBuffer data)
    {
        if (type == StorageMessageType.MsgClientOp)
        {
            string client = _clients.GetValueOrDefault(connection, "");
            var op = new PendingClientOp(connection, client, (ClientOp)header, data.AddRef());
            Track(op);
            HandleClientOp(op);
        }
    }

    /// <summary>Periodic work: retransmits, recovery scheduling, slow-op reports. Call every 50-200 ms.</summary>
    public void Tick()
    {
        long now = _env.NowMs;
        long elapsed = Math.Max(0, now - _lastTickMs);
        _lastTickMs = now;
        if (_options.RecoveryBytesPerSecond > 0)
        {
            _recoveryTokens = Math.Min(_options.RecoveryBytesPerSecond / 2, _recoveryTokens + _options.RecoveryBytesPerSecond * elapsed / 1000);
        }
        foreach (PgState pg in _pgs.Values)
        {
            RetransmitPeering(pg, now);
            if (pg.Phase == PgPhase.Active)
            {
                RetransmitWrites(pg, now);
                RetransmitRecovery(pg, now);
                if (pg.IsPrimary)
                {
                    if (pg.TrimScanNeeded && pg.Scrub is null)
                    {
                        ScanForTrim(pg);
                    }
                    RunTrims(pg);
                }
            }
        }
        ScheduleRecovery();
        ScheduleScrubs();
        if (_options.SlowOpMs > 0 && now >= _nextSlowCheckMs)
        {
            CheckSlowOps();
        }
    }

    private PgState GetOrCreatePg(PgId id)
    {
        if (!_pgs.TryGetValue(id.Packed, out PgState? pg))
        {
            pg = new PgState(id);
            _pgs[id.Packed] = pg;
        }
        return pg;
    }

    /// <summary>Sends with the data by reference (replication of client data, no copy).</summary>
    private void Send(int osd, StorageMessageType type, IMessage header, DataBuffer data)
    {
        if (osd == _osd)
        {
            return;
        }
        _env.SendToOsd(osd, type, header, data);
    }

    private void Send(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data = default)
    {
        if (osd == _osd)
        {
            return;
        }
        _env.SendToOsd(osd, type, header, data);
    }

    private ulong NewSession(ulong intervalEpoch)
    {
        _sessionCounter++;
        return (intervalEpoch << 24) | (_sessionCounter & 0xFFFFFF);
    }
}
