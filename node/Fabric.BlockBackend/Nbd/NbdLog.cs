using Microsoft.Extensions.Logging;

namespace Fabric.BlockBackend.Nbd;

internal static partial class NbdLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "nbd: listening on {Endpoint}")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "nbd[{Connection}]: client connected from {Peer}")]
    public static partial void Connected(ILogger logger, long connection, string peer);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "nbd[{Connection}]: closing connection: {Reason}")]
    public static partial void ConnectionFailed(ILogger logger, long connection, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information, Message = "nbd[{Connection}]: serving export '{Export}' ({SizeBytes} bytes)")]
    public static partial void Serving(ILogger logger, long connection, string export, long sizeBytes);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "nbd[{Connection}]: request {Command} offset {Offset} length {Length} rejected: {Reason}")]
    public static partial void RequestRejected(ILogger logger, long connection, ushort command, ulong offset, uint length, string reason);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "nbd[{Connection}]: option {Option} refused: {Reason}")]
    public static partial void OptionRefused(ILogger logger, long connection, uint option, string reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Debug, Message = "nbd[{Connection}]: client disconnected")]
    public static partial void Disconnected(ILogger logger, long connection);
}
