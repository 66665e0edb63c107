using System.Net;
using System.Security.Cryptography;
using Fabric.Client.Messaging;
using Fabric.Proto;
using Fabric.Storage.Messaging;
using Fabric.Storage.Store;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabric.Storage.Osd;

/// <summary>
/// The OSD as the node daemon hosts it: the <see cref="OsdCore"/> state machine on one dedicated
/// event-loop thread, fed by the TCP messenger, the store's durability callbacks, a 100 ms tick and
/// the maps the node hands in. Every public method is thread-safe.
/// </summary>
/// <remarks>
/// Usage by the node: construct with its id, store and listen address, <see cref="StartAsync"/>, then
/// call <see cref="OnMap"/> with every map in epoch order and <see cref="OnIncarnation"/> after every rejoin of
/// the node; <see cref="ListPgsAsync"/>, <see cref="OsdStatusAsync"/>, <see cref="ScrubAsync"/>, <see cref="DeepScrubAsync"/>,
/// <see cref="RepairAsync"/>, <see cref="ListInconsistentAsync"/> and <see cref="VolumeUsageAsync"/> are
/// the StorageAdmin handlers; <see cref="DisposeAsync"/> stops it.
/// </remarks>
public sealed class OsdHost : IOsdEnvironment, IAsyncDisposable
{
    private readonly EventLoopQueue _events = new();
    private readonly Action<int, StorageMessageType, IMessage, DataBuffer> _osdInline;
    private readonly Action<long, StorageMessageType, IMessage, DataBuffer> _clientInline;
    private readonly IObjectStore _store;
    private readonly OsdMessenger _messenger;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<int, string>? _reportFailure;
    private readonly Thread _loop;
    private readonly long _startTimestamp;
    private ITimer? _timer;
    private volatile bool _stopping;
    private int _lastReportedMs;

    public OsdHost(int osd, IObjectStore store, IPEndPoint listen, OsdOptions? options = null, ILogger? logger = null,
        TimeProvider? time = null, Action<int, string>? reportFailure = null)
    {
        Id = osd;
        _store = store;
        _time = time ?? TimeProvider.System;
        _startTimestamp = _time.GetTimestamp();
        _logger = logger ?? NullLogger.Instance;
        _reportFailure = reportFailure;
        // Connections are received on the loop thread (the queue's poller): their messages reach the core right
        // there, in order with the hello before them. Anything arriving on another thread (a connection closed
        // from elsewhere) is posted.
        _messenger = new OsdMessenger(osd, listen, (ulong)RandomNumberGenerator.GetInt32(int.MaxValue), _events.Poller);
        Core = new OsdCore(osd, store, this, options, _logger);
        // Bound once: a method group converted per message would allocate a delegate each time.
        _osdInline = Core.OnOsdMessage;
        _clientInline = Core.OnClientMessage;
        _messenger.OnOsdMessage = (from, type, header, data) =>
        {
            if (OnLoop)
            {
                RunInline(_osdInline, from, type, header, data);
                return;
            }
            data.AddRef();
            Post(() =>
            {
                try
                {
                    Core.OnOsdMessage(from, type, header, data);
                }
                finally
                {
                    data.Release();
                }
            });
        };
        _messenger.OnClientMessage = (connection, type, header, data) =>
        {
            if (OnLoop)
            {
                RunInline(_clientInline, connection, type, header, data);
                return;
            }
            data.AddRef();
            Post(() =>
            {
                try
                {
                    Core.OnClientMessage(connection, type, header, data);
                }
                finally
                {
                    data.Release();
                }
            });
        };
        _messenger.OnClientHello = (connection, identity) =>
        {
            if (OnLoop)
            {
                Core.OnClientHello(connection, identity);
                return;
            }
            Post(() => Core.OnClientHello(connection, identity));
        };
        _messenger.OnClientClosed = connection => Post(() => Core.OnClientClosed(connection));
        _messenger.OnPeerUnreachable = peer =>
        {
            Post(() => Core.OnPeerConnectionLost(peer));
            ReportFailure(peer, "connection to peer lost");
        };
        _loop = new Thread(RunLoop) { IsBackground = true, Name = $"osd.{osd}" };
    }

    public int Id { get; }

    /// <summary>The state machine (touch only from the loop: use the async methods).</summary>
    internal OsdCore Core { get; }

    public IPEndPoint LocalEndpoint => _messenger.LocalEndpoint;

    /// <summary>Latency per stage (written on the loop, readable from any thread).</summary>
    public OsdPerfCounters Perf => Core.Perf;

    public long NowMs => (long)_time.GetElapsedTime(_startTimestamp).TotalMilliseconds;

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Start();
        Post(() =>
        {
            try
            {
                Core.Start();
                started.SetResult();
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        });
        _messenger.Start();
        _timer = _time.CreateTimer(_ => Post(Core.Tick), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        return started.Task.WaitAsync(cancellationToken);
    }

    /// <summary>A new map (any thread; maps must come in epoch order).</summary>
    public void OnMap(ClusterMap map)
    {
        _messenger.UpdateAddresses(map);
        Post(() => Core.OnMap(map));
    }

    /// <summary>The node rejoined as <paramref name="incarnation"/> (any thread, any order: older ones are ignored).
    /// Applied on the loop, in order with the maps posted before it (<see cref="OsdCore.OnIncarnation"/>).</summary>
    public void OnIncarnation(ulong incarnation) => Post(() => Core.OnIncarnation(incarnation));

    public Task<ListPgsReply> ListPgsAsync(ListPgsRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.ListPgs(request), cancellationToken);

    public Task<OsdStatusReply> OsdStatusAsync(OsdStatusRequest request, CancellationToken cancellationToken = default) =>
        Call(Core.GetStatus, cancellationToken);

    public Task<ListOsdOpsReply> ListOpsAsync(ListOsdOpsRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.ListOps(request), cancellationToken);

    public Task<ScrubPgReply> ScrubAsync(ScrubPgRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.RequestScrub(request, deep: false, repair: false), cancellationToken);

    public Task<ScrubPgReply> DeepScrubAsync(ScrubPgRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.RequestScrub(request, deep: true, repair: false), cancellationToken);

    public Task<ScrubPgReply> RepairAsync(ScrubPgRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.RequestScrub(request, deep: true, repair: true), cancellationToken);

    public Task<ListInconsistentReply> ListInconsistentAsync(ListInconsistentRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.ListInconsistent(request), cancellationToken);

    public Task<VolumeUsageReply> VolumeUsageAsync(VolumeUsageRequest request, CancellationToken cancellationToken = default) =>
        Call(() => Core.VolumeUsage(request), cancellationToken);

    /// <summary>Client ops accepted at least <paramref name="olderThan"/> ago and not answered, oldest first, with what
    /// each waits for (the slow-op lines of the log, on demand).</summary>
    public Task<IReadOnlyList<SlowOsdOp>> SlowOpsAsync(TimeSpan olderThan, CancellationToken cancellationToken = default) =>
        Call(() => Core.SlowOps(olderThan), cancellationToken);

    /// <summary>True when every PG this OSD leads is active+clean.</summary>
    public Task<bool> AllPrimaryPgsCleanAsync(CancellationToken cancellationToken = default) => Call(Core.AllPrimaryPgsClean, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken = default) => DisposeAsync().AsTask();

    public async ValueTask DisposeAsync()
    {
        if (_stopping)
        {
            return;
        }
        _stopping = true;
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }
        _messenger.Dispose();
        _events.Complete();
        if (_loop.IsAlive)
        {
            _loop.Join(TimeSpan.FromSeconds(5));
        }
        if (!_loop.IsAlive)
        {
            _events.Dispose();
        }
    }

    void IOsdEnvironment.SendToOsd(int osd, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) =>
        _messenger.SendToOsd(osd, type, header, data);

    void IOsdEnvironment.SendToClient(long connection, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data) =>
        _messenger.SendToClient(connection, type, header, data);

    void IOsdEnvironment.SendToOsd(int osd, StorageMessageType type, IMessage header, DataBuffer data) =>
        _messenger.SendToOsd(osd, type, header, data);

    void IOsdEnvironment.SendToClient(long connection, StorageMessageType type, IMessage header, DataBuffer data) =>
        _messenger.SendToClient(connection, type, header, data);

    void IOsdEnvironment.FlushSends() => FramedConnection.FlushCorked();

    void IOsdEnvironment.Commit(IStoreBatch batch, Action? onDurable)
    {
        // The callback runs on the store's flusher thread or (writer-synced store) on this loop; posting it
        // keeps the core's events in one order either way.
        _store.Write(batch, onDurable is null ? null : () => Post(onDurable));
    }

    public void ReportFailure(int osd, string reason)
    {
        // At most one report a second: a dead peer makes every send fail.
        int now = (int)NowMs;
        if (now - _lastReportedMs < 1000)
        {
            return;
        }
        _lastReportedMs = now;
        _logger.LogWarning("osd.{Osd}: peer osd.{Peer} unreachable: {Reason}", Id, osd, reason);
        _reportFailure?.Invoke(osd, reason);
    }

    private void Post(Action action)
    {
        if (_stopping)
        {
            return;
        }
        _events.TryAdd(action); // False only when stopped meanwhile.
    }

    private bool OnLoop => Thread.CurrentThread == _loop;

    /// <summary>A message received on the loop thread, handled at once (the caller keeps the data alive for the
    /// call): a failure is logged as a posted event's would be, and the sync rule applies after it.</summary>
    private void RunInline<TFrom>(Action<TFrom, StorageMessageType, IMessage, DataBuffer> handler, TFrom from, StorageMessageType type, IMessage header, DataBuffer data)
    {
        try
        {
            handler(from, type, header, data);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "osd.{Osd}: handling a {Type} message failed", Id, type);
        }
        SyncIfDue();
    }

    private Task<T> Call<T>(Func<T> func, CancellationToken cancellationToken)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try
            {
                tcs.SetResult(func());
            }
            catch (Exception e)
            {
                tcs.SetException(e);
            }
        });
        return tcs.Task.WaitAsync(cancellationToken);
    }

    private void SyncIfDue()
    {
        if (_store.UnsyncedBatches >= SyncBatchesMax || _store.OldestUnsyncedAge >= SyncDelayMax)
        {
            Sync();
        }
    }

    private long _syncFailuresSeen;

    /// <summary>One sync; a failed one (its writes are never acknowledged: their clients wait and retry) is logged.</summary>
    private bool Sync()
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        bool synced = _store.SyncWritten();
        if (synced)
        {
            Core.Perf.StoreSync.RecordSince(start);
        }
        if (_store is RocksDbObjectStore rocks && rocks.SyncFailures != _syncFailuresSeen)
        {
            _syncFailuresSeen = rocks.SyncFailures;
            _logger.LogError(rocks.LastSyncFailure, "osd.{Osd}: a store sync failed ({Failures} so far): the writes it covered are not acknowledged", Id, rocks.SyncFailures);
        }
        return synced;
    }

    /// <summary>Batches that wait for a sync while the loop stays busy: beyond this many, or this age, the loop
    /// syncs before its next event (a sync is one fdatasync, ~150-300 µs here, for all of them).</summary>
    private const int SyncBatchesMax = 32;
    private static readonly TimeSpan SyncDelayMax = TimeSpan.FromMilliseconds(2);

    private void RunLoop()
    {
        // The store is synced on this thread (RocksDbObjectStore opened with writerSyncs; other stores sync by
        // themselves and SyncWritten does nothing): whenever the inbox runs dry, one sync makes every batch
        // this burst committed durable, and their callbacks post the acknowledgements back to this loop.
        Func<bool> idle = Sync;
        while (_events.TryTake(out Action action, idle))
        {
            try
            {
                // Corked: what the action sends leaves at its end, one send per connection. Not across SyncIfDue,
                // whose fdatasync must not hold replicated ops back.
                using (FramedConnection.Cork())
                {
                    action();
                }
                SyncIfDue();
            }
            catch (Exception e)
            {
                // A bug in the core must not take the node down silently: log it loudly.
                _logger.LogError(e, "osd.{Osd}: event failed", Id);
            }
        }
    }
}
