using Microsoft.Extensions.Logging;

namespace Fabric.BlockBackend.VhostUser;

internal static partial class VhostUserLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Information, Message = "vhost-user-blk {Socket}: listening (volume '{Volume}')")]
    public static partial void Listening(ILogger logger, string socket, string volume);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "vhost-user-blk {Socket}: front-end connected (session {Session})")]
    public static partial void Connected(ILogger logger, string socket, long session);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "vhost-user-blk {Socket}: closing session {Session}: {Reason}")]
    public static partial void SessionFailed(ILogger logger, string socket, long session, string reason);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Information, Message = "vhost-user-blk {Socket}: session {Session} ended")]
    public static partial void SessionEnded(ILogger logger, string socket, long session);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Warning, Message = "vhost-user-blk {Socket}: queue {Queue}: request (head {Head}) failed: {Reason}")]
    public static partial void RequestFailed(ILogger logger, string socket, int queue, int head, string reason);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Error, Message = "vhost-user-blk {Socket}: queue {Queue} stopped, the device needs a reset: {Reason}")]
    public static partial void QueueBroken(ILogger logger, string socket, int queue, string reason);

    [LoggerMessage(EventId = 1206, Level = LogLevel.Debug, Message = "vhost-user-blk {Socket}: {Message}")]
    public static partial void Trace(ILogger logger, string socket, string message);

    [LoggerMessage(EventId = 1207, Level = LogLevel.Information, Message = "vhost-user-blk {Socket}: queue {Queue}: resubmitting {Count} requests that were in flight before the reconnect")]
    public static partial void Resubmitting(ILogger logger, string socket, int queue, int count);
}
