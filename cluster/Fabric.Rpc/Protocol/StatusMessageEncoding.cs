using System.Buffers;
using System.Text;

namespace Fabric.Rpc.Protocol;

/// <summary>
/// The percent-encoding of <c>grpc-message</c>: the UTF-8 bytes of the detail, where every byte outside
/// 0x20-0x7E and '%' itself is written "%XX" (upper-case hex). Decoding never fails: a broken
/// "%" sequence is kept as it is, as the spec asks (never throw away the message).
/// </summary>
public static class StatusMessageEncoding
{
    public static string Encode(string detail)
    {
        bool plain = true;
        foreach (char c in detail)
        {
            if (c < 0x20 || c > 0x7E || c == '%')
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return detail;
        }

        byte[] utf8 = Encoding.UTF8.GetBytes(detail);
        var builder = new StringBuilder(utf8.Length * 3);
        foreach (byte b in utf8)
        {
            if (b < 0x20 || b > 0x7E || b == (byte)'%')
            {
                builder.Append('%').Append(HexDigit(b >> 4)).Append(HexDigit(b & 0xF));
            }
            else
            {
                builder.Append((char)b);
            }
        }

        return builder.ToString();
    }

    public static string Decode(string encoded)
    {
        if (!encoded.Contains('%'))
        {
            return encoded;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(encoded.Length * 3);
        try
        {
            int length = 0;
            for (int i = 0; i < encoded.Length; i++)
            {
                char c = encoded[i];
                if (c == '%' && i + 2 < encoded.Length
                    && TryHex(encoded[i + 1], out int high) && TryHex(encoded[i + 2], out int low))
                {
                    rented[length++] = (byte)((high << 4) | low);
                    i += 2;
                }
                else if (c < 0x80)
                {
                    rented[length++] = (byte)c;
                }
                else
                {
                    // Not valid on the wire; keep it as UTF-8 rather than dropping it.
                    int chars = char.IsHighSurrogate(c) && i + 1 < encoded.Length && char.IsLowSurrogate(encoded[i + 1]) ? 2 : 1;
                    length += Encoding.UTF8.GetBytes(encoded.AsSpan(i, chars), rented.AsSpan(length));
                    i += chars - 1;
                }
            }

            return Encoding.UTF8.GetString(rented, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'A' and <= 'F' => c - 'A' + 10,
            >= 'a' and <= 'f' => c - 'a' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
