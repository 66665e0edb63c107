using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Fabric.Tests.Shared;

// One file compiled into each test project that links it (<Compile Include="../Shared/ListLogger.cs" Link=... />),
// so the copies cannot drift apart; tests/Shared has no project of its own.

/// <summary>Collects formatted log lines (with their level) so tests can assert what was logged, and how often.</summary>
public sealed class ListLogger : ILogger
{
    private readonly ConcurrentQueue<(LogLevel Level, string Line)> _lines = new();

    public IReadOnlyList<(LogLevel Level, string Line)> Entries => _lines.ToArray();

    public IReadOnlyList<string> Lines => _lines.Select(e => e.Line).ToArray();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _lines.Enqueue((logLevel, formatter(state, exception)));
}
