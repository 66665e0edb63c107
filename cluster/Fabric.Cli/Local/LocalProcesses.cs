using System.Diagnostics;
using System.Globalization;

namespace Fabric.Cli.Local;

/// <summary>
/// The background processes `fabric up` starts on this machine (nodes, etcd): each has
/// $FABRIC_HOME/run/NAME.pid and $FABRIC_HOME/log/NAME.log. A pid file whose process is gone (or is
/// some other program now) counts as not running.
/// </summary>
public sealed class LocalProcesses(string home)
{
    public string Home { get; } = home;

    public string RunDir => Path.Combine(Home, "run");

    public string LogDir => Path.Combine(Home, "log");

    public string PidFile(string name) => Path.Combine(RunDir, name + ".pid");

    public string LogFile(string name) => Path.Combine(LogDir, name + ".log");

    /// <summary>The pid of a running process started under this name, or null.</summary>
    public int? RunningPid(string name)
    {
        var file = PidFile(name);
        if (!File.Exists(file)) return null;
        var parts = File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return null;
        var recordedStart = parts.Length > 1 ? parts[1] : null;
        return IsAlive(pid, recordedStart) ? pid : null;
    }

    /// <summary>True when the pid runs (not a zombie) and, when known, started at the recorded time:
    /// pids get reused, start times do not.</summary>
    public static bool IsAlive(int pid, string? recordedStart)
    {
        var stat = StartTime(pid, out var state);
        return stat is not null && state != "Z" && (recordedStart is null || recordedStart == stat);
    }

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null.</summary>
    private static string? StartTime(int pid, out string state)
    {
        state = "";
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            state = fields[0];
            return fields.Length > 19 ? fields[19] : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Starts a program in its own session (it outlives the CLI and the terminal), with stdout
    /// and stderr appended to the log, and records its pid.</summary>
    public int StartDetached(string name, string program, IReadOnlyList<string> arguments, IDictionary<string, string>? environment = null)
    {
        Directory.CreateDirectory(RunDir);
        Directory.CreateDirectory(LogDir);
        var log = LogFile(name);
        File.AppendAllText(log, $"---- {DateTimeOffset.UtcNow:O} starting {name}: {program} {string.Join(' ', arguments)}{Environment.NewLine}");
        // sh starts setsid in the background and prints its pid; setsid and nohup exec, so that pid is
        // the program's own.
        var command = "exec 0</dev/null; setsid nohup " + Quote(program) + " " + string.Join(' ', arguments.Select(Quote)) +
                      " >>" + Quote(log) + " 2>&1 & echo $!";
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        if (environment is not null)
        {
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }
        using var shell = Process.Start(start) ?? throw new CliException($"could not start {program}");
        var pidText = shell.StandardOutput.ReadToEnd().Trim();
        shell.WaitForExit();
        if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            throw new CliException($"could not start {name}: the shell printed '{pidText}'");
        }
        File.WriteAllText(PidFile(name), $"{pid} {StartTime(pid, out _)}");
        return pid;
    }

    private static string Quote(string text) => "'" + text.Replace("'", "'\\''") + "'";

    /// <summary>SIGTERM, wait up to the grace, then SIGKILL. True when it was running.</summary>
    public async Task<bool> StopAsync(string name, TimeSpan grace, CancellationToken cancellationToken)
    {
        var pid = RunningPid(name);
        if (pid is null)
        {
            File.Delete(PidFile(name));
            return false;
        }
        Posix.Terminate(pid.Value);
        var deadline = DateTime.UtcNow + grace;
        while (RunningPid(name) is not null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
        if (RunningPid(name) is not null)
        {
            Posix.ForceKill(pid.Value);
            var killDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (RunningPid(name) is not null && DateTime.UtcNow < killDeadline) await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        File.Delete(PidFile(name));
        return true;
    }

    /// <summary>Names with a pid file.</summary>
    public IEnumerable<string> Recorded() =>
        Directory.Exists(RunDir) ? Directory.EnumerateFiles(RunDir, "*.pid").Select(f => Path.GetFileNameWithoutExtension(f)!) : [];
}
