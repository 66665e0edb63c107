using System.Diagnostics;
using Fabric.BlockBackend.Native;

namespace Fabric.BlockBackend.VhostUser;

/// <summary>
/// The guest's memory as QEMU described it in SET_MEM_TABLE: each region's file descriptor mapped into this
/// process. Translates guest-physical addresses (descriptors) and QEMU virtual addresses (ring addresses)
/// to pointers here, refusing anything that is not wholly inside a region.
/// </summary>
/// <remarks>
/// Lifetime: reference counted. The device holds one reference while the table is current; every request in
/// flight holds one, so a new SET_MEM_TABLE never unmaps memory a running request still copies into. The
/// last release unmaps.
/// </remarks>
internal sealed unsafe class GuestMemoryMap
{
    public readonly struct Region
    {
        public required ulong GuestPhysicalAddress { get; init; }
        public required ulong SizeBytes { get; init; }
        public required ulong FrontEndVirtualAddress { get; init; }
        public required nint Host { get; init; }
        public required nint MapBase { get; init; }
        public required nuint MapLength { get; init; }
    }

    private readonly Region[] _regions;
    private int _references = 1;

    private GuestMemoryMap(Region[] regions) => _regions = regions;

    public static readonly GuestMemoryMap Empty = new([]);

    public IReadOnlyList<Region> Regions => _regions;

    /// <summary>Maps the regions of a memory table. Closes every fd. Returns null and the reason on failure.</summary>
    public static GuestMemoryMap? Map(ReadOnlySpan<(ulong Gpa, ulong Size, ulong Uva, ulong MmapOffset)> table, ReadOnlySpan<int> fds, out string? error)
    {
        error = null;
        var regions = new List<Region>(table.Length);
        try
        {
            for (int i = 0; i < table.Length; i++)
            {
                var (gpa, size, uva, offset) = table[i];
                if (size == 0 || size > (1UL << 46) || offset > (1UL << 46) || gpa + size < gpa || uva + size < uva)
                {
                    error = $"memory region {i} is malformed (gpa 0x{gpa:x}, size 0x{size:x}, offset 0x{offset:x})";
                    return null;
                }
                nuint length = (nuint)(size + offset);
                nint mapped = Libc.Mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fds[i], 0);
                if (mapped == Libc.MapFailed)
                {
                    error = $"mmap of memory region {i} ({size} bytes) failed: {Libc.ErrorText(Libc.LastError)}";
                    return null;
                }
                regions.Add(new Region
                {
                    GuestPhysicalAddress = gpa,
                    SizeBytes = size,
                    FrontEndVirtualAddress = uva,
                    Host = mapped + (nint)offset,
                    MapBase = mapped,
                    MapLength = length,
                });
            }
            for (int i = 0; i < regions.Count; i++)
            {
                for (int j = i + 1; j < regions.Count; j++)
                {
                    var a = regions[i];
                    var b = regions[j];
                    if (a.GuestPhysicalAddress < b.GuestPhysicalAddress + b.SizeBytes && b.GuestPhysicalAddress < a.GuestPhysicalAddress + a.SizeBytes)
                    {
                        error = $"memory regions {i} and {j} overlap";
                        return null;
                    }
                }
            }
            var map = new GuestMemoryMap(regions.ToArray());
            regions.Clear();
            return map;
        }
        finally
        {
            foreach (var r in regions)
            {
                Libc.Munmap(r.MapBase, r.MapLength);
            }
            foreach (int fd in fds)
            {
                Libc.Close(fd);
            }
        }
    }

    /// <summary>Translates a guest-physical range to a pointer when it lies inside one region.</summary>
    public bool TryTranslateGuest(ulong gpa, ulong length, out nint host, out ulong contiguous)
    {
        foreach (ref readonly var r in _regions.AsSpan())
        {
            if (gpa >= r.GuestPhysicalAddress && gpa - r.GuestPhysicalAddress < r.SizeBytes)
            {
                ulong within = gpa - r.GuestPhysicalAddress;
                host = r.Host + (nint)within;
                contiguous = Math.Min(length, r.SizeBytes - within);
                return true;
            }
        }
        host = 0;
        contiguous = 0;
        return false;
    }

    /// <summary>Translates a front-end (QEMU) virtual range, which must be wholly inside one region (rings).</summary>
    public bool TryTranslateFrontEnd(ulong uva, ulong length, out nint host, out ulong gpa)
    {
        foreach (ref readonly var r in _regions.AsSpan())
        {
            if (uva >= r.FrontEndVirtualAddress && uva - r.FrontEndVirtualAddress < r.SizeBytes)
            {
                ulong within = uva - r.FrontEndVirtualAddress;
                if (length > r.SizeBytes - within)
                {
                    break;
                }
                host = r.Host + (nint)within;
                gpa = r.GuestPhysicalAddress + within;
                return true;
            }
        }
        host = 0;
        gpa = 0;
        return false;
    }

    public void AddReference()
    {
        int now = Interlocked.Increment(ref _references);
        Debug.Assert(now > 1, "AddReference on a released memory map");
    }

    public void Release()
    {
        int now = Interlocked.Decrement(ref _references);
        Debug.Assert(now >= 0, "memory map released too often");
        if (now == 0)
        {
            foreach (var r in _regions)
            {
                Libc.Munmap(r.MapBase, r.MapLength);
            }
        }
    }
}
