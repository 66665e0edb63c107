using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>
/// Boots the tiny guest under TCG with one disk, runs a shell workload and powers off. The console (ttyS0)
/// is captured; the workload's exit code and any "KEY=VALUE" lines it prints can be read back.
/// </summary>
public sealed class QemuGuest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _console = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private QemuGuest(Process process)
    {
        _process = process;
    }

    public string Console
    {
        get
        {
            lock (_console)
            {
                return _console.ToString();
            }
        }
    }

    /// <summary>Disk arguments for a vhost-user-blk socket (needs shared guest memory).</summary>
    public static string[] VhostUserDisk(string socket, int queues = 1, bool reconnect = false) => VhostUserDisks([socket], queues, reconnect);

    /// <summary>Disk arguments for several vhost-user-blk sockets, in guest order (vda, vdb, ...), sharing the guest memory.</summary>
    public static string[] VhostUserDisks(IReadOnlyList<string> sockets, int queues = 1, bool reconnect = false) =>
    [
        "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
        .. sockets.SelectMany((socket, i) => new[]
        {
            "-chardev", $"socket,id=c{i},path={socket}" + (reconnect ? ",reconnect=1" : ""),
            "-device", $"vhost-user-blk-pci,chardev=c{i},num-queues={queues}",
        }),
    ];

    public static async Task<QemuGuest> StartAsync(ITestOutputHelper output, string workload, IEnumerable<string> diskArgs, int cpus = 1)
    {
        var (kernel, initrd) = await GuestImage.EnsureAsync(output);
        string w64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(workload));
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-accel", "tcg", "-m", "256", "-smp", cpus.ToString(), "-nodefaults", "-no-user-config",
                     "-display", "none", "-serial", "stdio", "-no-reboot",
                     "-kernel", kernel, "-initrd", initrd,
                     "-append", $"console=ttyS0 panic=-1 quiet fabric.poweroff=1 fabric.workload64={w64}" })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in diskArgs)
        {
            psi.ArgumentList.Add(a);
        }
        var process = Process.Start(psi)!;
        var guest = new QemuGuest(process);
        process.OutputDataReceived += (_, e) => guest.Append(e.Data, output);
        process.ErrorDataReceived += (_, e) => guest.Append(e.Data is null ? null : "qemu: " + e.Data, output);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => guest._exited.TrySetResult();
        if (process.HasExited)
        {
            guest._exited.TrySetResult();
        }
        return guest;
    }

    private void Append(string? line, ITestOutputHelper output)
    {
        if (line is null)
        {
            return;
        }
        lock (_console)
        {
            _console.AppendLine(line);
        }
        try
        {
            output.WriteLine("guest| " + line);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>Waits (bounded) until the console shows <paramref name="marker"/>.</summary>
    public async Task WaitForAsync(string marker, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Console.Contains(marker, StringComparison.Ordinal))
            {
                return;
            }
            if (_exited.Task.IsCompleted)
            {
                await Task.Delay(200); // let the last lines arrive
                if (Console.Contains(marker, StringComparison.Ordinal))
                {
                    return;
                }
                throw new Xunit.Sdk.XunitException($"QEMU exited before '{marker}'; console:\n{Console}");
            }
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"no '{marker}' within {timeout}; console:\n{Console}");
    }

    /// <summary>Waits for the workload to end and QEMU to exit; returns the workload's exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await WaitForAsync("FABRIC-WORKLOAD-EXIT", timeout);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await _exited.Task.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException("QEMU did not exit after the workload (poweroff)");
        }
        var m = Regex.Match(Console, @"FABRIC-WORKLOAD-EXIT (\d+)");
        return int.Parse(m.Groups[1].Value);
    }

    /// <summary>The value of the last "KEY=value" line the workload printed.</summary>
    public string? Value(string key)
    {
        var matches = Regex.Matches(Console, $@"^{Regex.Escape(key)}=(\S+)", RegexOptions.Multiline);
        return matches.Count == 0 ? null : matches[^1].Groups[1].Value;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
