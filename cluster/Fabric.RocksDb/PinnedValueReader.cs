// Reads a value in place, while RocksDB keeps it pinned (memtable or block cache), without copying
// it to the managed heap. The span is valid only during the call: copy what must outlive it.
namespace Fabric.RocksDb;

public delegate TResult PinnedValueReader<in TState, out TResult>(ReadOnlySpan<byte> value, TState state);
