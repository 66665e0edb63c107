using System.Buffers;
using System.Buffers.Binary;
using Fabric.Core.Io;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// Executing a parsed virtio-blk request against the volume (no unsafe code here: guest memory is only
/// touched through <see cref="BlkRequest"/>'s checked segments, so this part may await).
/// </summary>
internal sealed partial class Virtqueue
{
    // ---- execution and completion ------------------------------------------------------------------

    private async Task ExecuteAsync(BlkRequest r)
    {
        uint usedLength = 0;
        bool abandoned = false;
        byte[]? buffer = null;
        try
        {
            if (r.ReadableBytes < VirtioBlk.RequestHeaderBytes)
            {
                throw new BadRequest("request shorter than the 16-byte virtio-blk header");
            }
            if (r.WritableBytes < 1)
            {
                throw new BadRequest("request has no writable status byte");
            }
            Span<byte> header = stackalloc byte[VirtioBlk.RequestHeaderBytes];
            r.GatherReadable(0, header);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
            var volume = _session.Volume;
            var ct = _session.Cancellation;
            byte status;
            uint written = 0;
            switch (type)
            {
                case VirtioBlk.TypeIn:
                case VirtioBlk.TypeOut:
                {
                    ulong length = type == VirtioBlk.TypeIn ? r.WritableBytes - 1 : r.ReadableBytes - VirtioBlk.RequestHeaderBytes;
                    if (length % VirtioBlk.SectorBytes != 0 || length > (ulong)_session.MaxRequestBytes)
                    {
                        throw new BadRequest($"data length {length} is not a multiple of 512 up to {_session.MaxRequestBytes}");
                    }
                    if (!InRange(sector, length, volume.SizeBytes, out long offset))
                    {
                        throw new BadRequest($"sector {sector} + {length} bytes is past the end of the {volume.SizeBytes}-byte disk");
                    }
                    buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
                    var data = buffer.AsMemory(0, (int)length);
                    BlockIoStatus io;
                    if (type == VirtioBlk.TypeIn)
                    {
                        io = await volume.ReadAsync(offset, data, ct).ConfigureAwait(false);
                        if (io == BlockIoStatus.Ok)
                        {
                            r.ScatterWritable(data.Span);
                            written = (uint)length;
                        }
                    }
                    else if (_session.ReadOnly)
                    {
                        io = BlockIoStatus.ReadOnly;
                    }
                    else
                    {
                        r.GatherReadable(VirtioBlk.RequestHeaderBytes, data.Span);
                        io = await volume.WriteAsync(offset, data, false, ct).ConfigureAwait(false);
                    }
                    abandoned = IsAbandoned(io, ct);
                    status = ToStatus(io);
                    break;
                }
                case VirtioBlk.TypeFlush:
                {
                    var io = await volume.FlushAsync(ct).ConfigureAwait(false);
                    abandoned = IsAbandoned(io, ct);
                    status = ToStatus(io);
                    break;
                }
                case VirtioBlk.TypeGetId:
                {
                    var id = new byte[VirtioBlk.IdBytes];
                    var serial = _session.SerialId;
                    serial.AsSpan(0, Math.Min(serial.Length, id.Length)).CopyTo(id);
                    int n = (int)Math.Min((ulong)id.Length, r.WritableBytes - 1);
                    r.ScatterWritable(id.AsSpan(0, n));
                    written = (uint)n;
                    status = VirtioBlk.StatusOk;
                    break;
                }
                case VirtioBlk.TypeDiscard:
                case VirtioBlk.TypeWriteZeroes:
                {
                    ulong length = r.ReadableBytes - VirtioBlk.RequestHeaderBytes;
                    if (length != VirtioBlk.DiscardSegmentBytes)
                    {
                        throw new BadRequest($"discard/write-zeroes carries {length} bytes of segments (max_seg is 1 × 16)");
                    }
                    Span<byte> seg = stackalloc byte[VirtioBlk.DiscardSegmentBytes];
                    r.GatherReadable(VirtioBlk.RequestHeaderBytes, seg);
                    ulong first = BinaryPrimitives.ReadUInt64LittleEndian(seg);
                    uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(seg[8..]);
                    uint segFlags = BinaryPrimitives.ReadUInt32LittleEndian(seg[12..]);
                    uint max = type == VirtioBlk.TypeDiscard ? VirtioBlk.MaxDiscardSectors : VirtioBlk.MaxWriteZeroesSectors;
                    if (type == VirtioBlk.TypeDiscard && segFlags != 0)
                    {
                        status = VirtioBlk.StatusUnsupported;
                        break;
                    }
                    if ((segFlags & ~VirtioBlk.WriteZeroesFlagUnmap) != 0)
                    {
                        status = VirtioBlk.StatusUnsupported;
                        break;
                    }
                    if (sectors > max || !InRange(first, (ulong)sectors * VirtioBlk.SectorBytes, volume.SizeBytes, out long offset))
                    {
                        throw new BadRequest($"{sectors} sectors at {first} exceed the limit or the disk");
                    }
                    long bytes = (long)sectors * VirtioBlk.SectorBytes;
                    BlockIoStatus io = _session.ReadOnly ? BlockIoStatus.ReadOnly
                        : type == VirtioBlk.TypeDiscard || (segFlags & VirtioBlk.WriteZeroesFlagUnmap) != 0
                            ? await volume.DiscardAsync(offset, bytes, ct).ConfigureAwait(false)
                            : await volume.WriteZeroesAsync(offset, bytes, ct).ConfigureAwait(false);
                    abandoned = IsAbandoned(io, ct);
                    status = ToStatus(io);
                    break;
                }
                default:
                    status = VirtioBlk.StatusUnsupported;
                    break;
            }
            if (status == VirtioBlk.StatusIoErr && !abandoned)
            {
                VhostUserLog.RequestFailed(_session.Logger, _session.SocketPath, Index, r.Head, $"type {type} sector {sector}: the volume failed it");
            }
            if (!abandoned)
            {
                r.WriteStatus(status);
                usedLength = written + 1;
            }
        }
        catch (BadRequest e)
        {
            VhostUserLog.RequestFailed(_session.Logger, _session.SocketPath, Index, r.Head, e.Message);
            if (r.WritableBytes > 0)
            {
                r.WriteStatus(VirtioBlk.StatusIoErr);
                usedLength = 1;
            }
        }
        catch (OperationCanceledException) when (_session.Cancellation.IsCancellationRequested)
        {
            abandoned = true;
        }
        catch (Exception e)
        {
            VhostUserLog.RequestFailed(_session.Logger, _session.SocketPath, Index, r.Head, $"volume threw {e.GetType().Name}: {e.Message}");
            if (r.WritableBytes > 0)
            {
                r.WriteStatus(VirtioBlk.StatusIoErr);
                usedLength = 1;
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        if (abandoned)
        {
            // The session is going away: leave the head marked in the inflight region so the next session
            // (a reconnect, or a restarted backend) resubmits it. No used entry: QEMU will not see one.
            Finish(r);
        }
        else
        {
            Complete(r, usedLength);
        }
    }

    private static bool IsAbandoned(BlockIoStatus io, CancellationToken ct) => io == BlockIoStatus.Cancelled && ct.IsCancellationRequested;

    private static bool InRange(ulong sector, ulong length, long sizeBytes, out long offset)
    {
        offset = 0;
        if (sector > (ulong)sizeBytes / VirtioBlk.SectorBytes)
        {
            return false;
        }
        ulong start = sector * VirtioBlk.SectorBytes;
        if (length > (ulong)sizeBytes - start)
        {
            return false;
        }
        offset = (long)start;
        return true;
    }

    private static byte ToStatus(BlockIoStatus io) => io switch
    {
        BlockIoStatus.Ok => VirtioBlk.StatusOk,
        BlockIoStatus.NotSupported => VirtioBlk.StatusUnsupported,
        _ => VirtioBlk.StatusIoErr,
    };

    private sealed class BadRequest(string message) : Exception(message);
}
