// Small helpers to make keys and values readable in tests.
using System.Text;

namespace Fabric.RocksDb.Tests.Support;

public static class Bytes
{
    public static byte[] Of(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    public static string? Text(byte[]? bytes) => bytes is null ? null : Encoding.UTF8.GetString(bytes);

    /// <summary>Orders byte strings the way RocksDB's default comparator does (bytewise, shorter
    /// prefix first).</summary>
    public sealed class BytewiseComparer : IComparer<byte[]>
    {
        public static readonly BytewiseComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
