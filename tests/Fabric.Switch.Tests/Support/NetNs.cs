// Network namespaces for tests, created with iproute2 under unique names and removed on dispose (also
// when the test failed). Needs root.
namespace Fabric.Switch.Tests.Support;

public sealed class NetNs : IDisposable
{
    public NetNs(string name)
    {
        Name = name;
        Ip("netns", "add", name);
        Exec("ip", "link", "set", "lo", "up");
    }

    public string Name { get; }
    public string Path => $"/var/run/netns/{Name}";

    /// <summary>A short unique suffix for names (interface names are limited to 15 characters).</summary>
    public static string UniqueSuffix() => Guid.NewGuid().ToString("N")[..6];

    public static void Ip(params string[] args)
    {
        var (code, _, err) = Requirements.Run("ip", args);
        if (code != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)} failed: {err.Trim()}");
    }

    public (int Code, string Stdout, string Stderr) Exec(params string[] command) =>
        Requirements.Run("ip", ["netns", "exec", Name, .. command]);

    public void Run(params string[] command)
    {
        var (code, _, err) = Exec(command);
        if (code != 0) throw new InvalidOperationException($"[{Name}] {string.Join(' ', command)} failed: {err.Trim()}");
    }

    /// <summary>Joins two namespaces with a veth pair whose ends have the same name in each.</summary>
    public static void Veth(NetNs a, NetNs b, string name)
    {
        Ip("link", "add", name, "netns", a.Name, "type", "veth", "peer", "name", name, "netns", b.Name);
        a.Run("ip", "link", "set", name, "up");
        b.Run("ip", "link", "set", name, "up");
    }

    public void Dispose()
    {
        Requirements.Run("ip", "netns", "del", Name);
    }
}
