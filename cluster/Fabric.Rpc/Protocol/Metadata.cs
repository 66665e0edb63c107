using System.Collections;

namespace Fabric.Rpc.Protocol;

/// <summary>
/// Custom metadata of a call: request headers, response headers or trailers, as an ordered list of
/// key/value entries (keys may repeat).
///
/// Contract (gRPC over HTTP/2, Custom-Metadata): keys are lower-case <c>[0-9a-z_.-]</c>; a key ending in
/// <c>-bin</c> carries bytes (base64 on the wire, sent unpadded, padded or unpadded accepted, several
/// values joined with "," are split); any other key carries printable ASCII (0x20-0x7E). Keys that the
/// protocol itself uses (<c>grpc-status</c>, <c>content-type</c>, pseudo-headers, ...) are never
/// exposed as metadata and cannot be added.
/// </summary>
public sealed class Metadata : IReadOnlyList<Metadata.Entry>
{
    public const string BinarySuffix = "-bin";

    /// <summary>An empty, read-only instance.</summary>
    public static Metadata Empty { get; } = new(readOnly: true);

    private readonly List<Entry> _entries = [];
    private readonly bool _readOnly;

    public Metadata()
    {
    }

    private Metadata(bool readOnly) => _readOnly = readOnly;

    public int Count => _entries.Count;

    public Entry this[int index] => _entries[index];

    /// <summary>Adds an ASCII entry. Throws ArgumentException for a bad key or value.</summary>
    public Metadata Add(string key, string value)
    {
        ThrowIfReadOnly();
        string normalized = ValidateKey(key);
        if (normalized.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Metadata key '{key}' ends in '-bin': add its value as bytes.", nameof(key));
        }

        ArgumentNullException.ThrowIfNull(value);
        foreach (char c in value)
        {
            if (c < 0x20 || c > 0x7E)
            {
                throw new ArgumentException(
                    $"Metadata value of '{key}' has a character outside printable ASCII (0x{(int)c:X2}); use a '-bin' key for arbitrary bytes.",
                    nameof(value));
            }
        }

        _entries.Add(new Entry(normalized, value, null));
        return this;
    }

    /// <summary>Adds a binary entry; the key must end in "-bin".</summary>
    public Metadata Add(string key, byte[] value)
    {
        ThrowIfReadOnly();
        string normalized = ValidateKey(key);
        if (!normalized.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Binary metadata key '{key}' must end in '-bin'.", nameof(key));
        }

        ArgumentNullException.ThrowIfNull(value);
        _entries.Add(new Entry(normalized, null, value));
        return this;
    }

    /// <summary>The first entry with this key, or null.</summary>
    public Entry? Get(string key)
    {
        foreach (Entry entry in _entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return entry;
            }
        }

        return null;
    }

    /// <summary>The first ASCII value with this key, or null.</summary>
    public string? GetValue(string key) => Get(key)?.Value;

    /// <summary>The first binary value with this key, or null.</summary>
    public byte[]? GetValueBytes(string key) => Get(key)?.ValueBytes;

    public IEnumerable<Entry> GetAll(string key) =>
        _entries.Where(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase));

    public List<Entry>.Enumerator GetEnumerator() => _entries.GetEnumerator();

    IEnumerator<Entry> IEnumerable<Entry>.GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _entries.GetEnumerator();

    public override string ToString() => string.Join(", ", _entries);

    /// <summary>
    /// Headers the protocol owns: never handed to the application as metadata, never sent from it.
    /// </summary>
    internal static bool IsReserved(string key)
    {
        if (key.Length == 0 || key[0] == ':')
        {
            return true;
        }

        return key.ToLowerInvariant() switch
        {
            "content-type" or "te" or "host" or "content-length" or "connection" or "transfer-encoding"
                or "grpc-timeout" or "grpc-encoding" or "grpc-accept-encoding" or "grpc-status"
                or "grpc-message" or "grpc-message-type" or "accept-encoding" => true,
            _ => false,
        };
    }

    /// <summary>
    /// Adds an entry received from the wire. Binary values are base64-decoded (comma-separated values
    /// split); a value that does not decode is dropped rather than failing the call, as the spec asks.
    /// </summary>
    internal void AddFromWire(string key, string value)
    {
        string normalized = key.ToLowerInvariant();
        if (normalized.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            foreach (string part in value.Split(','))
            {
                byte[]? bytes = DecodeBase64(part.Trim());
                if (bytes is not null)
                {
                    _entries.Add(new Entry(normalized, null, bytes));
                }
            }
        }
        else
        {
            _entries.Add(new Entry(normalized, value, null));
        }
    }

    internal static string EncodeBase64(byte[] value) => Convert.ToBase64String(value).TrimEnd('=');

    internal static byte[]? DecodeBase64(string text)
    {
        int padding = (4 - (text.Length % 4)) % 4;
        if (padding == 3)
        {
            return null;
        }

        string padded = padding == 0 ? text : text + new string('=', padding);
        try
        {
            return Convert.FromBase64String(padded);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static string ValidateKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        string normalized = key.ToLowerInvariant();
        foreach (char c in normalized)
        {
            bool ok = c is (>= '0' and <= '9') or (>= 'a' and <= 'z') or '_' or '-' or '.';
            if (!ok)
            {
                throw new ArgumentException($"Metadata key '{key}' has '{c}': keys are [0-9a-z_.-].", nameof(key));
            }
        }

        if (IsReserved(normalized))
        {
            throw new ArgumentException($"Metadata key '{key}' is reserved by the gRPC protocol.", nameof(key));
        }

        return normalized;
    }

    private void ThrowIfReadOnly()
    {
        if (_readOnly)
        {
            throw new InvalidOperationException("Metadata.Empty is read-only: create a new Metadata.");
        }
    }

    /// <summary>One metadata entry: an ASCII value, or bytes for "-bin" keys.</summary>
    public readonly record struct Entry(string Key, string? Value, byte[]? ValueBytes)
    {
        public bool IsBinary => ValueBytes is not null;

        /// <summary>The value as it travels in the header (base64 for binary entries).</summary>
        internal string WireValue => ValueBytes is not null ? EncodeBase64(ValueBytes) : Value!;

        public override string ToString() => IsBinary ? $"{Key}=<{ValueBytes!.Length} bytes>" : $"{Key}={Value}";
    }
}
