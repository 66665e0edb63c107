using System.Buffers;
using System.Text.Unicode;

namespace Fabric.Config.Toml;

/// <summary>
/// Reads TOML 1.0 documents. Every failure is a <see cref="TomlException"/> naming file, line and
/// column; nothing else escapes for any input (the property tests feed it random text).
/// </summary>
public static class TomlReader
{
    /// <summary>Parses TOML text. <paramref name="fileName"/> is only used in messages.</summary>
    public static TomlDocument Parse(string text, string fileName = "<toml>")
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        return new TomlParser(text, fileName).Parse();
    }

    /// <summary>Parses UTF-8 bytes; invalid UTF-8 (TOML requires valid UTF-8) is reported with its position.</summary>
    public static TomlDocument Parse(ReadOnlySpan<byte> utf8, string fileName = "<toml>")
    {
        return Parse(DecodeUtf8(utf8, fileName), fileName);
    }

    /// <summary>Reads and parses a file.</summary>
    public static TomlDocument ReadFile(string path)
    {
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses without throwing: on failure returns false and the error.</summary>
    public static bool TryParse(string text, string fileName, out TomlDocument? document, out TomlException? error)
    {
        try
        {
            document = Parse(text, fileName);
            error = null;
            return true;
        }
        catch (TomlException exception)
        {
            document = null;
            error = exception;
            return false;
        }
    }

    /// <summary>Strict UTF-8 decoding: an invalid sequence is an error at the line and column where it starts.</summary>
    internal static string DecodeUtf8(ReadOnlySpan<byte> utf8, string fileName)
    {
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(utf8.Length, 1));
        try
        {
            var status = Utf8.ToUtf16(utf8, buffer, out var bytesRead, out var charsWritten, replaceInvalidSequences: false);
            if (status == System.Buffers.OperationStatus.Done)
            {
                return new string(buffer, 0, charsWritten);
            }

            var prefix = buffer.AsSpan(0, charsWritten);
            var line = 1;
            var lineStart = 0;
            for (var i = 0; i < prefix.Length; i++)
            {
                if (prefix[i] == '\n')
                {
                    line++;
                    lineStart = i + 1;
                }
            }

            var column = 1;
            for (var i = lineStart; i < prefix.Length; i++)
            {
                if (!char.IsLowSurrogate(prefix[i]))
                {
                    column++;
                }
            }

            var bad = utf8.Slice(bytesRead, Math.Min(4, utf8.Length - bytesRead));
            var hex = string.Join(' ', bad.ToArray().Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
            throw new TomlException(fileName, new TomlPosition(line, column), $"invalid UTF-8 (bytes {hex}); TOML files must be UTF-8");
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
