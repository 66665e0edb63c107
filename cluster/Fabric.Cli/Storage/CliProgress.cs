using Spectre.Console;

namespace Fabric.Cli.Storage;

/// <summary>
/// A progress bar on stderr for long storage work (import, export, removing objects). Drawn only when
/// stderr is a terminal: in scripts and logs the verb prints one summary line instead of redraws.
/// </summary>
public static class CliProgress
{
    public static bool Interactive => !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> with a reporter of (done, total) in <paramref name="unit"/>
    /// ("bytes" shows sizes and speed, anything else counts).</summary>
    public static async Task<T> RunAsync<T>(Output.Output output, string description, long total, bool bytes, Func<IProgress<long>, Task<T>> work)
    {
        if (!Interactive)
        {
            return await work(new Progress<long>(_ => { })).ConfigureAwait(false);
        }
        var columns = new List<ProgressColumn> { new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn() };
        if (bytes)
        {
            columns.Add(new BinaryBytesColumn());
        }
        columns.Add(new ElapsedTimeColumn());
        columns.Add(new RemainingTimeColumn());
        T result = default!;
        await output.Error.Progress().AutoClear(false).HideCompleted(false).Columns(columns.ToArray()).StartAsync(async progress =>
        {
            var task = progress.AddTask(Output.Output.Esc(description), maxValue: Math.Max(1, total));
            // Synchronous reporter: the value is a plain store, Spectre redraws on its own timer.
            result = await work(new Reporter(v => task.Value = Math.Min(v, task.MaxValue))).ConfigureAwait(false);
            task.Value = task.MaxValue;
        }).ConfigureAwait(false);
        return result;
    }

    /// <summary>"176 MiB / 256 MiB, 21.8 MiB/s": sizes in the binary units the rest of the CLI prints.</summary>
    private sealed class BinaryBytesColumn : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            var speed = task.Speed is { } perSecond ? $", {Output.Units.Bytes(perSecond)}/s" : "";
            return new Text($"{Output.Units.Bytes(task.Value)} / {Output.Units.Bytes(task.MaxValue)}{speed}");
        }
    }

    private sealed class Reporter(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
