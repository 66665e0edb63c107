using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Fabric.Hypervisor.Tests.Qmp;

/// <summary>A scripted QMP peer on a unix socket: sends a greeting, then hands each received command to the test.</summary>
public sealed class FakeQmpServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private Socket? _peer;
    private readonly Channel<JsonElement> _commands = Channel.CreateUnbounded<JsonElement>();
    private readonly Task _accept;

    public FakeQmpServer(string path, string? greeting = null)
    {
        Path = path;
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(1);
        _accept = AcceptAsync(greeting ?? """{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}""");
    }

    public string Path { get; }

    private async Task AcceptAsync(string greeting)
    {
        _peer = await _listener.AcceptAsync();
        await SendRawAsync(greeting + "\n");
        _ = Task.Run(async () =>
        {
            var buf = new byte[65536];
            var pending = new StringBuilder();
            while (true)
            {
                int n;
                try { n = await _peer.ReceiveAsync(buf, SocketFlags.None); } catch (SocketException) { break; } catch (ObjectDisposedException) { break; }
                if (n == 0) break;
                pending.Append(Encoding.UTF8.GetString(buf, 0, n));
                string s;
                while ((s = pending.ToString()).Contains('\n'))
                {
                    var line = s[..s.IndexOf('\n')];
                    pending.Remove(0, line.Length + 1);
                    _commands.Writer.TryWrite(JsonDocument.Parse(line).RootElement.Clone());
                }
            }
            _commands.Writer.TryComplete();
        });
    }

    public async Task<JsonElement> NextCommandAsync()
    {
        await _accept;
        return await _commands.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
    }

    public Task SendRawAsync(string text) => _peer!.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None);

    public Task ReplyAsync(JsonElement command, string returnJson) =>
        SendRawAsync($"{{\"return\": {returnJson}, \"id\": {command.GetProperty("id").GetRawText()}}}\n");

    /// <summary>Answers qmp_capabilities.</summary>
    public async Task HandshakeAsync()
    {
        var c = await NextCommandAsync();
        if (c.GetProperty("execute").GetString() != "qmp_capabilities") throw new InvalidOperationException("expected qmp_capabilities");
        await ReplyAsync(c, "{}");
    }

    public void DropConnection() => _peer?.Dispose();

    public async ValueTask DisposeAsync()
    {
        _peer?.Dispose();
        _listener.Dispose();
        try { await _accept; } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        File.Delete(Path);
    }
}
