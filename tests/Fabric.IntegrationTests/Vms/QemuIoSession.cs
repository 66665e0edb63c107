using System.Diagnostics;
using System.Text;

namespace Fabric.IntegrationTests.Vms;

/// <summary>
/// An interactive qemu-io on an NBD URI (a client nobody here wrote): commands go in on stdin one at a time,
/// and each waits for its own answer, so two sessions can be interleaved exactly.
/// </summary>
public sealed class QemuIoSession : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Task _reader;

    /// <param name="readOnly">Open with -r (a read-only export refuses a writable open).</param>
    /// <param name="cache">qemu-io's -t (e.g. "writeback": plain writes, no FUA; qemu-io's own default writes through).</param>
    public QemuIoSession(string uri, bool readOnly = false, string? cache = null)
    {
        var start = new ProcessStartInfo("qemu-io") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (readOnly) start.ArgumentList.Add("-r");
        if (cache is not null)
        {
            start.ArgumentList.Add("-t");
            start.ArgumentList.Add(cache);
        }
        foreach (var a in new[] { "-f", "raw", uri }) start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        _reader = Task.WhenAll(Pump(_process.StandardOutput), Pump(_process.StandardError));
    }

    private async Task Pump(StreamReader reader)
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
        {
            lock (_output) _output.Append(buffer, 0, n);
        }
    }

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    /// <summary>Runs one command and returns its answer (the text up to the next prompt).</summary>
    public async Task<string> RunAsync(string command, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        // Ready: the output ends with a prompt (the first one, or the one after the previous answer).
        int mark;
        while (true)
        {
            lock (_output)
            {
                mark = _output.Length;
                if (_output.ToString().EndsWith("qemu-io> ", StringComparison.Ordinal)) break;
            }
            Check(command, deadline, "");
            await Task.Delay(20);
        }
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        while (true)
        {
            var text = Output[mark..];
            var prompt = text.IndexOf("qemu-io> ", StringComparison.Ordinal);
            if (prompt >= 0) return text[..prompt];
            Check(command, deadline, text);
            await Task.Delay(20);
        }
    }

    private void Check(string command, DateTime deadline, string text)
    {
        if (_process.HasExited) throw new InvalidOperationException($"qemu-io exited ({_process.ExitCode}): {Output}");
        if (DateTime.UtcNow > deadline) throw new TimeoutException($"qemu-io did not answer '{command}': {text}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _process.StandardInput.WriteLineAsync("quit");
                await _process.StandardInput.FlushAsync();
                _process.StandardInput.Close();
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            _process.Kill();
        }
        await _reader;
        _process.Dispose();
    }
}
