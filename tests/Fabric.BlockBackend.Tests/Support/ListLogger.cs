using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Fabric.BlockBackend.Tests.Support;

/// <summary>Collects formatted log lines so tests can assert that a failure was logged with its reason.</summary>
public sealed class ListLogger : ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ITestOutputHelper? _output;

    public ListLogger(ITestOutputHelper? output = null) => _output = output;

    public IReadOnlyList<string> Lines => _lines.ToArray();

    public bool Contains(string fragment) => _lines.Any(l => l.Contains(fragment, StringComparison.OrdinalIgnoreCase));

    /// <summary>Waits (bounded) until a line containing <paramref name="fragment"/> was logged.</summary>
    public async Task<string> WaitForAsync(string fragment, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            var line = _lines.FirstOrDefault(l => l.Contains(fragment, StringComparison.OrdinalIgnoreCase));
            if (line is not null)
            {
                return line;
            }
            await Task.Delay(20);
        }
        throw new Xunit.Sdk.XunitException($"no log line containing '{fragment}' within the deadline; log:\n{string.Join("\n", _lines)}");
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string line = $"{logLevel}: {formatter(state, exception)}";
        _lines.Enqueue(line);
        try
        {
            _output?.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test already finished; the line is still in the list.
        }
    }
}
