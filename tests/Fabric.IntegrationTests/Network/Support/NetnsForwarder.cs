using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Fabric.IntegrationTests.Network.Support;

/// <summary>
/// A TCP port on 127.0.0.1 of the test's own network namespace that leads to an address inside another
/// namespace, so the test process can call a node that runs there (gRPC, /metrics) with its ordinary
/// clients. A socket belongs to the namespace of the thread that created it: one dedicated thread
/// enters the target namespace (setns) and only creates sockets; connecting and copying happen anywhere.
/// </summary>
public sealed class NetnsForwarder : IAsyncDisposable
{
    private const int CloneNewNet = 0x40000000;
    private readonly Socket _listener;
    private readonly Thread _creator;
    private readonly BlockingCollection<TaskCompletionSource<Socket>> _requests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    public NetnsForwarder(string netnsName, IPEndPoint target)
    {
        Target = target;
        _creator = new Thread(() => CreateSockets($"/var/run/netns/{netnsName}")) { IsBackground = true, Name = $"netns-{netnsName}" };
        _creator.Start();
        if (!_entered.Task.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException($"the socket thread did not enter network namespace {netnsName}");
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        Local = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint Target { get; }

    /// <summary>Where the test connects: 127.0.0.1:port.</summary>
    public IPEndPoint Local { get; }

    public string Address => $"{Local.Address}:{Local.Port}";

    private void CreateSockets(string path)
    {
        try
        {
            using (var ns = File.OpenHandle(path))
            {
                if (setns((int)ns.DangerousGetHandle(), CloneNewNet) != 0)
                    throw new InvalidOperationException($"setns {path} failed (errno {Marshal.GetLastPInvokeError()}; needs root)");
            }
            _entered.TrySetResult();
        }
        catch (Exception e)
        {
            _entered.TrySetException(e);
            return;
        }
        foreach (var request in _requests.GetConsumingEnumerable())
        {
            try
            {
                request.TrySetResult(new Socket(Target.AddressFamily, SocketType.Stream, ProtocolType.Tcp));
            }
            catch (Exception e)
            {
                request.TrySetException(e);
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            _ = Task.Run(() => ForwardAsync(inbound));
        }
    }

    private async Task ForwardAsync(Socket inbound)
    {
        var created = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _requests.Add(created);
        }
        catch (InvalidOperationException)
        {
            inbound.Dispose();
            return;
        }
        using var outbound = await created.Task;
        using (inbound)
        {
            try
            {
                await outbound.ConnectAsync(Target, _stop.Token);
                using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = CopyAsync(inbound, outbound, done.Token);
                var down = CopyAsync(outbound, inbound, done.Token);
                await Task.WhenAny(up, down);
                await done.CancelAsync();
            }
            catch (Exception)
            {
                // Refused, reset or stopped: the client sees its connection close.
            }
        }
    }

    private static async Task CopyAsync(Socket from, Socket to, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
                if (n == 0) break;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, cancellationToken);
            }
        }
        catch (Exception)
        {
            // One side went away.
        }
        try
        {
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _requests.CompleteAdding();
        _listener.Dispose();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
        }
        _creator.Join(TimeSpan.FromSeconds(5));
    }
}
