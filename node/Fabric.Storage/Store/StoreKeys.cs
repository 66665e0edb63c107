using System.Buffers.Binary;
using System.Text;

namespace Fabric.Storage.Store;

/// <summary>
/// The OSD's key layout. Every key starts with a kind byte and, for PG data, the packed PG id
/// (big-endian, so one PG's keys are contiguous and ordered):
/// <list type="bullet">
/// <item><c>'O' pg name</c> → object metadata (version, size).</item>
/// <item><c>'D' pg name block</c> → crc32c (4 bytes) + one 4 KiB block; absent blocks read as zeros.</item>
/// <item><c>'P' pg name chunk</c> → the placed blocks of a chunk of 16 blocks: their crc32c and the slots of
/// their data in the store's slot file (large writes, <see cref="PlacedChunk"/>, <see cref="ObjectBlocks"/>). A
/// block is either 'D' or placed, never both.</item>
/// <item><c>'K' pg name clone block</c> → a block a snapshot clone keeps (crc + data), or an empty value:
/// the block was a hole at that snapshot (see <see cref="ObjectFamily"/>).</item>
/// <item><c>'L' pg version</c> → a PG log entry (protobuf).</item>
/// <item><c>'I' pg</c> → the PG's persisted info (protobuf).</item>
/// <item><c>'H' pg</c> → the PG's interval history as this OSD saw it.</item>
/// <item><c>'M' pg name</c> → a missing object (need version).</item>
/// <item><c>'S'</c> → the OSD superblock (last map epoch, epoch coverage).</item>
/// <item><c>'X' pg</c> → the PG's scrub findings (inconsistent objects), when there are any.</item>
/// <item><c>'J'</c> → where the store's journal starts (position, sequence; <see cref="StoreJournal"/>).</item>
/// </list>
/// Object names are written with a 2-byte length first so that one object's blocks never interleave
/// with another object's whose name it prefixes.
/// </summary>
public static class StoreKeys
{
    public const byte ObjectKind = (byte)'O';
    public const byte DataKind = (byte)'D';
    public const byte LogKind = (byte)'L';
    public const byte InfoKind = (byte)'I';
    public const byte HistoryKind = (byte)'H';
    public const byte MissingKind = (byte)'M';
    public const byte SuperblockKind = (byte)'S';
    public const byte CloneDataKind = (byte)'K';
    public const byte PlacedKind = (byte)'P';
    public const byte ScrubKind = (byte)'X';
    public const byte JournalKind = (byte)'J';

    public const int MaxNameBytes = 1024;

    public static int PgPrefix(Span<byte> key, byte kind, ulong pg)
    {
        key[0] = kind;
        BinaryPrimitives.WriteUInt64BigEndian(key[1..], pg);
        return 9;
    }

    public static int Named(Span<byte> key, byte kind, ulong pg, string name)
    {
        int n = PgPrefix(key, kind, pg);
        int length = Encoding.UTF8.GetBytes(name, key[(n + 2)..]);
        BinaryPrimitives.WriteUInt16BigEndian(key[n..], (ushort)length);
        return n + 2 + length;
    }

    public static int Block(Span<byte> key, ulong pg, string name, uint block)
    {
        int n = Named(key, DataKind, pg, name);
        BinaryPrimitives.WriteUInt32BigEndian(key[n..], block);
        return n + 4;
    }

    /// <summary>The key of the placed record of chunk <paramref name="chunk"/> (blocks chunk × 16 ..) of an object.</summary>
    public static int Placed(Span<byte> key, ulong pg, string name, uint chunk)
    {
        int n = Named(key, PlacedKind, pg, name);
        BinaryPrimitives.WriteUInt32BigEndian(key[n..], chunk);
        return n + 4;
    }

    /// <summary>The prefix of every block of one clone of an object.</summary>
    public static int Clone(Span<byte> key, ulong pg, string name, ulong clone)
    {
        int n = Named(key, CloneDataKind, pg, name);
        BinaryPrimitives.WriteUInt64BigEndian(key[n..], clone);
        return n + 8;
    }

    public static int CloneBlock(Span<byte> key, ulong pg, string name, ulong clone, uint block)
    {
        int n = Clone(key, pg, name, clone);
        BinaryPrimitives.WriteUInt32BigEndian(key[n..], block);
        return n + 4;
    }

    /// <summary>The clone id in a clone block key (before the block index).</summary>
    public static ulong CloneOf(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadUInt64BigEndian(key[^12..]);

    /// <summary>
    /// Orders object names the way their keys sort (length first, then bytes), so that ranges of names
    /// (scrub chunks) match key ranges.
    /// </summary>
    public static int CompareNames(string a, string b)
    {
        int la = Encoding.UTF8.GetByteCount(a);
        int lb = Encoding.UTF8.GetByteCount(b);
        if (la != lb)
        {
            return la.CompareTo(lb);
        }
        Span<byte> x = la <= 256 ? stackalloc byte[la] : new byte[la];
        Span<byte> y = lb <= 256 ? stackalloc byte[lb] : new byte[lb];
        Encoding.UTF8.GetBytes(a, x);
        Encoding.UTF8.GetBytes(b, y);
        return x.SequenceCompareTo(y);
    }

    public static int Log(Span<byte> key, ulong pg, ulong version)
    {
        int n = PgPrefix(key, LogKind, pg);
        BinaryPrimitives.WriteUInt64BigEndian(key[n..], version);
        return n + 8;
    }

    /// <summary>The name in a Named key (after kind, pg, length).</summary>
    public static string NameOf(ReadOnlySpan<byte> key)
    {
        int length = BinaryPrimitives.ReadUInt16BigEndian(key[9..]);
        return Encoding.UTF8.GetString(key.Slice(11, length));
    }

    public static uint BlockOf(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadUInt32BigEndian(key[^4..]);

    public static ulong VersionOf(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadUInt64BigEndian(key[^8..]);

    public static ulong PgOf(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadUInt64BigEndian(key[1..]);

    /// <summary>The first key after every key that starts with <paramref name="prefix"/> (for range deletes).</summary>
    public static byte[] PrefixEnd(ReadOnlySpan<byte> prefix)
    {
        byte[] end = prefix.ToArray();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] != 0xFF)
            {
                end[i]++;
                return end.AsSpan(0, i + 1).ToArray();
            }
        }
        return [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    }
}
