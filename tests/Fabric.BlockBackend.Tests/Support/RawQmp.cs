using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>
/// The few QMP commands these tests send (stop, cont) over a unix socket: greeting, qmp_capabilities, then one
/// command at a time, skipping events until its answer. The node's own QMP client lives in Fabric.Hypervisor,
/// which this project does not reference.
/// </summary>
public sealed class RawQmp : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly StreamWriter _writer;

    private RawQmp(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>QEMU arguments for a QMP server on <paramref name="path"/>.</summary>
    public static string[] Arguments(string path) => ["-qmp", $"unix:{path},server=on,wait=off"];

    public static async Task<RawQmp> ConnectAsync(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                var qmp = new RawQmp(socket);
                await qmp._reader.ReadLineAsync(); // greeting
                await qmp.ExecuteAsync("qmp_capabilities");
                return qmp;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Runs <paramref name="command"/>; throws with QEMU's error if it fails.</summary>
    public async Task<JsonElement> ExecuteAsync(string command)
    {
        await _writer.WriteLineAsync($"{{\"execute\":\"{command}\"}}");
        while (true)
        {
            var line = await _reader.ReadLineAsync() ?? throw new IOException($"QMP closed while waiting for '{command}'");
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("return", out var result))
            {
                return result.Clone();
            }
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException($"QMP '{command}' failed: {error}");
            }
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _writer.Dispose();
        _socket.Dispose();
    }
}
