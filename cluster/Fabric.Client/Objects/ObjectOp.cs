using Fabric.Proto;

namespace Fabric.Client.Objects;

/// <summary>Outcome of an object operation. Expected failures are values.</summary>
public enum ObjectStatus
{
    Ok,
    /// <summary>The pool does not exist.</summary>
    NoPool,
    /// <summary>This client identity is blocklisted.</summary>
    Fenced,
    /// <summary>The write does not match the volume's exclusive lock (this client does not hold it, or no longer).</summary>
    NotLockOwner,
    /// <summary>The request required the object to exist and it does not (clone copy-up needed).</summary>
    NoObject,
    /// <summary>Malformed request.</summary>
    Invalid,
    /// <summary>Every copy failed its checksum, or another I/O error.</summary>
    IoError,
    Cancelled,
}

/// <summary>The result of one object operation: status, the object's version after it, its size and existence.</summary>
public readonly record struct ObjectResult(ObjectStatus Status, ulong Version, ulong ObjectSize, bool Exists)
{
    public static ObjectResult Failed(ObjectStatus status) => new(status, 0, 0, false);
}

/// <summary>
/// One request to the object client. For writes <see cref="Data"/> holds the bytes; for reads the
/// result is copied into <see cref="Destination"/> (its length is the read length). Buffers belong to
/// the caller and must stay valid until completion.
/// </summary>
public sealed class ObjectRequest
{
    public required uint Pool { get; init; }

    public required string Object { get; init; }

    public required OsdOpKind Kind { get; init; }

    public ulong Offset { get; init; }

    /// <summary>Bytes affected (zero ranges); for writes and reads the buffer's length is used.</summary>
    public uint Length { get; init; }

    public ReadOnlyMemory<byte> Data { get; init; }

    public Memory<byte> Destination { get; init; }

    /// <summary>Writes: the volume's snapshot context (newest snapshot id ever taken, live snapshot ids).</summary>
    public ulong SnapSeq { get; init; }

    public IReadOnlyList<ulong>? Snaps { get; init; }

    /// <summary>Reads and stats: the snapshot to read (0 = the head). Rollback: the snapshot to roll back to.</summary>
    public ulong SnapId { get; init; }

    /// <summary>Writes: the acquired epoch of the volume lock this client holds (0 = none).</summary>
    public ulong LockEpoch { get; init; }

    /// <summary>Writes: fail with <see cref="ObjectStatus.NoObject"/> instead of creating the object.</summary>
    public bool RequireExists { get; init; }
}
