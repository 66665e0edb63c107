namespace Fabric.Core.Io;

/// <summary>Outcome of a block request. Expected failures are values, not exceptions.</summary>
public enum BlockIoStatus
{
    Ok = 0,
    /// <summary>The range lies (partly) past the end of the volume.</summary>
    OutOfRange,
    /// <summary>The volume is read-only or this client does not hold its lock.</summary>
    ReadOnly,
    /// <summary>This client was fenced (blocklisted) or lost the volume's exclusive lock.</summary>
    Fenced,
    /// <summary>The data could not be read or written (every replica failed a checksum, disk error).</summary>
    IoError,
    /// <summary>The request was malformed (unaligned where alignment is required, bad length).</summary>
    Invalid,
    /// <summary>The request was cancelled before it took effect.</summary>
    Cancelled,
    /// <summary>The operation is not supported by this volume.</summary>
    NotSupported,
}
