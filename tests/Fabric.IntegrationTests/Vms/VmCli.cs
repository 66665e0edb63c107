using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabric.IntegrationTests.Support;

namespace Fabric.IntegrationTests.Vms;

/// <summary>What the VM tests ask a cluster through the real CLI.</summary>
public static class VmCli
{
    /// <summary>Guests boot in seconds under TCG, but the machine is shared and busy: generous deadlines.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    public static async Task<JsonObject?> FindAsync(TestCluster cluster, string vm)
    {
        var list = await cluster.CliJsonAsync("vm", "list");
        return list.AsArray().Select(v => v!.AsObject()).FirstOrDefault(v => (string)v["name"]! == vm);
    }

    public static async Task<IReadOnlyList<string>> NamesAsync(TestCluster cluster) =>
        (await cluster.CliJsonAsync("vm", "list")).AsArray().Select(v => (string)v!["name"]!).Order().ToList();

    public static async Task<string> ConsoleAsync(TestCluster cluster, string vm) =>
        (string)(await cluster.CliJsonAsync("vm", "console", vm))["text"]!;

    /// <summary>Waits until the VM's console matches <paramref name="pattern"/>; returns the console text.</summary>
    public static Task<string> WaitConsoleAsync(TestCluster cluster, string vm, string pattern, TimeSpan? timeout = null) =>
        Wait.UntilAsync(() => ConsoleAsync(cluster, vm), text => Regex.IsMatch(text, pattern), timeout ?? Deadline,
            $"/{pattern}/ on the console of {vm}", TimeSpan.FromMilliseconds(300));

    public static Task<JsonObject> WaitStateAsync(TestCluster cluster, string vm, string state, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () => (await FindAsync(cluster, vm))!, v => (string)v["state"]! == state, timeout ?? Deadline, $"VM {vm} to be {state}");

    /// <summary>
    /// Waits until the guest printed <paramref name="more"/> further "<paramref name="marker"/> N" lines than it
    /// had when first seen here, and returns the highest N. A counter guest keeps its count across a live
    /// migration, but its console on the new node starts empty: waiting for one exact line computed from a
    /// console read too early (0 + more) would wait for a number the guest passed long ago.
    /// </summary>
    public static async Task<int> WaitCounterAdvancesAsync(TestCluster cluster, string vm, string marker, int more, TimeSpan? timeout = null)
    {
        // The probes return the console's last lines, so a timeout shows what the guest printed last
        // (a WRITE-FAILED, a kernel message), not only a number.
        var first = MaxNumber(await Wait.UntilAsync(() => TailAsync(cluster, vm), text => MaxNumber(text, marker) > 0, timeout ?? Deadline,
            $"a \"{marker} N\" line on the console of {vm}", TimeSpan.FromMilliseconds(300)), marker);
        return MaxNumber(await Wait.UntilAsync(() => TailAsync(cluster, vm), text => MaxNumber(text, marker) >= first + more, timeout ?? Deadline,
            $"\"{marker} {first + more}\" or later on the console of {vm} (first seen {first})", TimeSpan.FromMilliseconds(300)), marker);
    }

    private static async Task<string> TailAsync(TestCluster cluster, string vm)
    {
        var lines = (await ConsoleAsync(cluster, vm)).Split('\n');
        return string.Join('\n', lines.TakeLast(12));
    }

    public static int MaxNumber(string text, string marker) =>
        Regex.Matches(text, $@"(?m)^{marker} (\d+)\r?$").Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(0).Max();
}
