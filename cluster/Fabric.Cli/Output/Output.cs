using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Fabric.Cli.Output;

/// <summary>Where a verb's result goes: a table or text for people, or one JSON document on stdout
/// for scripts (`--json`). Progress and notes go to stderr so stdout stays parseable.</summary>
public sealed class Output(bool json)
{
    // Relaxed escaping: stdout is not HTML, and PG states read "active+clean", not "active\u002Bclean".
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public bool Json { get; } = json;

    // Redirected output has no terminal width: use a wide one so tables are not folded.
    private static int? Width(bool redirected) => redirected ? 220 : null;

    public IAnsiConsole Console { get; } = Create(System.Console.Out, System.Console.IsOutputRedirected);

    private static IAnsiConsole Create(TextWriter writer, bool redirected)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (Width(redirected) is { } width) console.Profile.Width = width;
        return console;
    }

    public IAnsiConsole Error { get; } = Create(System.Console.Error, System.Console.IsErrorRedirected);

    public void WriteJson(JsonNode? node) => System.Console.Out.WriteLine(node?.ToJsonString(Indented) ?? "null");

    /// <summary>A note for people (stderr), never part of JSON output.</summary>
    public void Note(string text) => System.Console.Error.WriteLine(text);

    public void Line(string text) => System.Console.Out.WriteLine(text);

    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in columns) table.AddColumn(new TableColumn(column.ToUpperInvariant()));
        return table;
    }

    public void Write(Table table) => Console.Write(table);

    /// <summary>Escapes text for Spectre markup.</summary>
    public static string Esc(string? text) => Markup.Escape(text ?? "");
}
