// A 48-bit IEEE 802 MAC address held in a ulong (first octet most significant), so that the data plane
// compares, hashes and copies addresses as plain integers. Parsing text is for the control plane only.
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Fabric.Switch.Packets;

public readonly record struct MacAddress(ulong Value) : ISpanFormattable
{
    public const int Length = 6;
    private const ulong Mask = 0xFFFF_FFFF_FFFFUL;

    public static readonly MacAddress Broadcast = new(Mask);
    public static readonly MacAddress Zero = new(0);

    /// <summary>The group bit (I/G): broadcast and multicast frames are flooded, never learned.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000UL) != 0;
    public bool IsBroadcast => Value == Mask;
    public bool IsZero => Value == 0;

    public static MacAddress Read(ReadOnlySpan<byte> bytes)
    {
        // Two loads instead of six: the first four octets, then the last two.
        ulong hi = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        ulong lo = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        return new MacAddress((hi << 16) | lo);
    }

    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(Value >> 16));
        BinaryPrimitives.WriteUInt16BigEndian(bytes[4..], (ushort)Value);
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address (expected 52:54:00:12:34:56)");

    /// <summary>Accepts "52:54:00:12:34:56" and "52-54-00-12-34-56".</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null || text.Length != 17) return false;
        ulong v = 0;
        for (int i = 0; i < 6; i++)
        {
            int p = i * 3;
            if (i < 5 && text[p + 2] != ':' && text[p + 2] != '-') return false;
            int h = HexValue(text[p]), l = HexValue(text[p + 1]);
            if (h < 0 || l < 0) return false;
            v = (v << 8) | (uint)(h << 4 | l);
        }
        mac = new MacAddress(v);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    public override string ToString() => string.Create(17, Value, static (span, v) => Format(span, v));

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        if (destination.Length < 17) { charsWritten = 0; return false; }
        Format(destination, Value);
        charsWritten = 17;
        return true;
    }

    private static void Format(Span<char> span, ulong v)
    {
        const string hex = "0123456789abcdef";
        for (int i = 0; i < 6; i++)
        {
            int b = (int)(v >> (40 - 8 * i)) & 0xFF;
            span[i * 3] = hex[b >> 4];
            span[i * 3 + 1] = hex[b & 0xF];
            if (i < 5) span[i * 3 + 2] = ':';
        }
    }
}
