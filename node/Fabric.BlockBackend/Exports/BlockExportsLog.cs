using Microsoft.Extensions.Logging;

namespace Fabric.BlockBackend.Exports;

internal static partial class BlockExportsLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Warning, Message = "export {ExportId}: the lock of volume '{Volume}' was not released: {Reason}")]
    public static partial void ReleaseFailed(ILogger logger, string exportId, string volume, string reason);
}
