namespace Fabric.Config.Toml;

/// <summary>
/// The text is not valid TOML 1.0. The message reads "file:line:column: reason", so it can be shown to
/// an operator as is; the parts are also available separately.
/// </summary>
public sealed class TomlException : Exception
{
    public TomlException(string fileName, TomlPosition position, string reason)
        : base($"{fileName}:{position.Line}:{position.Column}: {reason}")
    {
        FileName = fileName;
        Position = position;
        Reason = reason;
    }

    public string FileName { get; }

    public TomlPosition Position { get; }

    public int Line => Position.Line;

    public int Column => Position.Column;

    /// <summary>What is wrong, without the location.</summary>
    public string Reason { get; }
}
