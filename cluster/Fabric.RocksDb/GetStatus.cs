// Outcome of reading a value into a caller-supplied buffer: absence and a short buffer are
// expected results, not exceptions.
namespace Fabric.RocksDb;

public enum GetStatus
{
    /// <summary>The value was copied into the buffer; the length says how many bytes.</summary>
    Found,

    /// <summary>The key does not exist (or is deleted) in the view that was read.</summary>
    NotFound,

    /// <summary>The key exists but its value is longer than the buffer: nothing was copied and
    /// the length says how big a buffer is needed.</summary>
    BufferTooSmall,
}
