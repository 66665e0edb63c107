using System.Runtime.CompilerServices;
using System.Text;

namespace Fabric.Hypervisor.Runtime;

/// <summary>
/// Reading a VM's serial console log (QEMU appends ttyS0 to it; it survives stops and restarts until
/// the VM is deleted). Offsets are byte offsets, so a follower resumes where it stopped.
/// </summary>
public static class ConsoleLog
{
    /// <summary>Reads up to <paramref name="maxBytes"/> from <paramref name="offset"/>.</summary>
    /// <returns>The text and the offset to continue from.</returns>
    public static (string Text, long NextOffset) Read(string path, long offset, int maxBytes)
    {
        if (!File.Exists(path)) return ("", offset);
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (offset > f.Length) offset = f.Length;
        if (offset < 0) offset = Math.Max(0, f.Length + offset); // negative: the last -offset bytes
        f.Position = offset;
        var buffer = new byte[(int)Math.Min(maxBytes, f.Length - offset)];
        var n = f.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return (Encoding.UTF8.GetString(buffer, 0, n), offset + n);
    }

    /// <summary>Yields the log's new text as it grows, from <paramref name="offset"/>, until cancelled.</summary>
    public static async IAsyncEnumerable<string> FollowAsync(string path, long offset, TimeSpan pollInterval, TimeProvider time,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var (text, next) = Read(path, offset, 64 * 1024);
            offset = next;
            if (text.Length > 0)
            {
                yield return text;
                continue;
            }
            try
            {
                await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    /// <summary>Waits until the log contains <paramref name="text"/> at or after <paramref name="offset"/>.</summary>
    /// <returns>The offset just past the match, or -1 when <paramref name="giveUp"/> completed first.</returns>
    public static async Task<long> WaitForAsync(string path, string text, long offset, Task? giveUp, CancellationToken cancellationToken)
    {
        var window = new StringBuilder();
        var windowStart = offset;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (chunk, next) = Read(path, offset, 64 * 1024);
            if (chunk.Length > 0)
            {
                window.Append(chunk);
                offset = next;
                var s = window.ToString();
                var at = s.IndexOf(text, StringComparison.Ordinal);
                if (at >= 0) return windowStart + Encoding.UTF8.GetByteCount(s.AsSpan(0, at + text.Length));
                // Keep only a tail long enough to hold a match split across reads.
                if (window.Length > text.Length * 4 + 4096)
                {
                    var cut = window.Length - text.Length;
                    windowStart += Encoding.UTF8.GetByteCount(s.AsSpan(0, cut));
                    window.Remove(0, cut);
                }
                continue;
            }
            if (giveUp is { IsCompleted: true })
            {
                // One last read: the process may have written the text just before ending.
                var (last, _) = Read(path, offset, 64 * 1024);
                if ((window + last).Contains(text, StringComparison.Ordinal)) return offset + Encoding.UTF8.GetByteCount(last);
                return -1;
            }
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }
}
