// A tshark capture running in a network namespace, stopped with SIGINT so it finishes the file.
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fabric.Switch.Tests.Support;

public sealed class TsharkCapture : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Text.StringBuilder _stderr = new();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public TsharkCapture(NetNs ns, string iface, string path)
    {
        Path = path;
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", ns.Name, "tshark", "-i", iface, "-F", "pcap", "-w", path, "-q" }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr) _stderr.AppendLine(e.Data);
            if (e.Data.Contains("Capture started")) _ready.TrySetResult();
        };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public string Path { get; }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_ready.Task, exited, Task.Delay(timeout));
        if (first != _ready.Task) throw new InvalidOperationException($"tshark did not start capturing: {Stderr}");
    }

    /// <summary>Polls the capture file until <paramref name="done"/> holds for the frames in it.</summary>
    public async Task<Fabric.Switch.Capture.PcapReader> WaitForFramesAsync(Func<IReadOnlyList<Fabric.Switch.Capture.PcapReader.Record>, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        Fabric.Switch.Capture.PcapReader? last = null;
        while (true)
        {
            // The file may end in a record being written: read what parses.
            var bytes = File.Exists(Path) ? File.ReadAllBytes(Path) : [];
            for (int cut = bytes.Length; cut >= 24 && last is null; cut--)
            {
                last = Fabric.Switch.Capture.PcapReader.TryRead(bytes.AsSpan(0, cut), out _);
                if (cut < bytes.Length - 70000) break;
            }
            if (last is not null && done(last.Records)) return last;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the capture did not get the expected frames in {timeout.TotalSeconds} s ({last?.Records.Count ?? 0} frames): {Stderr}");
            last = null;
            await Task.Delay(100);
        }
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Stops the capture (SIGINT: tshark flushes and closes the file) and waits for it.</summary>
    public void Stop()
    {
        if (_process.HasExited) return;
        kill(_process.Id, 2);
        if (!_process.WaitForExit(15_000)) _process.Kill(true);
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
        try { File.Delete(Path); } catch { }
    }
}
