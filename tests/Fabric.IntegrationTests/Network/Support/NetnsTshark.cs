using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>tshark capturing an interface of a network namespace into a pcap file; stopped with SIGINT so the file is complete.</summary>
public sealed class NetnsTshark : IDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Text.StringBuilder _stderr = new();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public NetnsTshark(string netns, string iface, string path)
    {
        Path = path;
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "netns", "exec", netns, "tshark", "-i", iface, "-F", "pcap", "-w", path }) start.ArgumentList.Add(a);
        _process = Process.Start(start) ?? throw new InvalidOperationException("tshark did not start");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr) _stderr.AppendLine(e.Data);
            if (e.Data.Contains("Capture started", StringComparison.Ordinal)) _started.TrySetResult();
        };
        _process.OutputDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public string Path { get; }

    public string Stderr
    {
        get
        {
            lock (_stderr) return _stderr.ToString();
        }
    }

    public async Task WaitStartedAsync(TimeSpan timeout)
    {
        var first = await Task.WhenAny(_started.Task, _process.WaitForExitAsync(), Task.Delay(timeout));
        if (first != _started.Task) throw new InvalidOperationException($"tshark did not start capturing: {Stderr}");
    }

    /// <summary>
    /// Waits until the frames written so far satisfy <paramref name="done"/> (the file is read up to its
    /// last whole record: dumpcap may be writing the next one).
    /// </summary>
    public async Task<IReadOnlyList<Fabric.Switch.Capture.PcapReader.Record>> WaitForFramesAsync(
        Func<IReadOnlyList<Fabric.Switch.Capture.PcapReader.Record>, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyList<Fabric.Switch.Capture.PcapReader.Record> records = [];
        while (true)
        {
            records = ReadWholeRecords(File.Exists(Path) ? ReadShared(Path) : []);
            if (done(records)) return records;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the capture of the veth did not show {what} within {timeout.TotalSeconds:0} s ({records.Count} frames): {Stderr}");
            await Task.Delay(100);
        }
    }

    private static byte[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>The records of a pcap file that may end in a record still being written.</summary>
    public static IReadOnlyList<Fabric.Switch.Capture.PcapReader.Record> ReadWholeRecords(byte[] file)
    {
        if (file.Length < 24) return [];
        int end = 24;
        while (end + 16 <= file.Length)
        {
            int length = 16 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(end + 8));
            if (end + length > file.Length) break;
            end += length;
        }
        return Fabric.Switch.Capture.PcapReader.TryRead(file.AsSpan(0, end), out var error)?.Records
            ?? throw new InvalidDataException($"not a pcap file: {error}");
    }

    /// <summary>Stops the capture (SIGINT: tshark finishes the file) and waits for it to exit.</summary>
    public void Stop()
    {
        if (_process.HasExited) return;
        // `ip netns exec` runs tshark in its own process (exec), so the pid is tshark's.
        kill(_process.Id, 2);
        if (!_process.WaitForExit(15_000)) _process.Kill(entireProcessTree: true);
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
