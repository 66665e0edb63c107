using Fabric.BlockBackend.Native;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// The dirty-page bitmap QEMU shares during live migration (SET_LOG_BASE with LOG_SHMFD): one bit per 4 KiB
/// guest-physical page, set for every page this backend writes (IN data, used rings) so the migration
/// resends it. Bits are set with atomic ORs because QEMU clears them concurrently. Reference counted: QEMU may
/// replace the log (resize) while requests complete; a marking in progress keeps the old mapping alive, and
/// every marking goes to the log that is current when it happens.
/// </summary>
internal sealed unsafe class DirtyLog : IDisposable
{
    private const int PageShift = 12;
    private readonly nint _base;
    private readonly nuint _length;
    private readonly nint _log;
    private readonly ulong _logBytes;
    private int _references = 1;

    private DirtyLog(nint mapBase, nuint length, nint log, ulong logBytes)
    {
        _base = mapBase;
        _length = length;
        _log = log;
        _logBytes = logBytes;
    }

    public static DirtyLog? Map(int fd, ulong sizeBytes, ulong offset, out string? error)
    {
        error = null;
        try
        {
            if (sizeBytes == 0 || sizeBytes > (1UL << 40) || offset > (1UL << 40))
            {
                error = $"dirty log size {sizeBytes} / offset {offset} is not plausible";
                return null;
            }
            nuint length = (nuint)(sizeBytes + offset);
            nint mapped = Libc.Mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            if (mapped == Libc.MapFailed)
            {
                error = $"mmap of the dirty log failed: {Libc.ErrorText(Libc.LastError)}";
                return null;
            }
            return new DirtyLog(mapped, length, mapped + (nint)offset, sizeBytes);
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    public void MarkDirty(ulong gpa, ulong length)
    {
        if (length == 0)
        {
            return;
        }
        ulong first = gpa >> PageShift;
        ulong last = (gpa + length - 1) >> PageShift;
        for (ulong page = first; page <= last; page++)
        {
            ulong word = page / 64;
            if ((word + 1) * 8 > _logBytes)
            {
                return; // past what QEMU sized the log for: nothing there to migrate
            }
            // SAFETY: word * 8 + 8 <= _logBytes, so the 8-byte word lies inside the mapping; it is 8-byte
            // aligned because the mapping is page aligned and offset is what QEMU gave (its log is u64 words).
            Interlocked.Or(ref *(long*)(_log + (nint)(word * 8)), 1L << (int)(page % 64));
        }
    }

    /// <summary>Takes a reference for one marking; false once the log was released (replaced).</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            int now = Volatile.Read(ref _references);
            if (now == 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _references, now + 1, now) == now)
            {
                return true;
            }
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Libc.Munmap(_base, _length);
        }
    }

    /// <summary>Drops the owner's reference; the mapping goes when the last marking in progress ends.</summary>
    public void Dispose() => Release();
}
