using Fabric.Config.Model;
using Fabric.Config.Toml;
using Fabric.Config.Validation;

namespace Fabric.Config.Loading;

/// <summary>
/// Loads a cluster config file (cluster.example.toml is the reference): TOML syntax, then each table
/// (<see cref="ConfigBinder"/>), then the rules across tables (<see cref="ConfigValidator"/>). Never
/// throws for bad content: every problem comes back as a <see cref="ConfigError"/> naming
/// file:line:column and the key path. A TOML syntax error stops there (one error); otherwise all
/// errors are collected.
/// </summary>
public static class ClusterConfigLoader
{
    /// <summary>Reads and loads a file. A missing or unreadable file is a single error, not an exception.</summary>
    public static ConfigLoadResult Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Failed(new ConfigError(ConfigSeverity.Error, new SourceLocation(path, 0, 0), string.Empty, $"cannot read the config file: {exception.Message}"));
        }

        TomlDocument document;
        try
        {
            document = TomlReader.Parse(bytes, path);
        }
        catch (TomlException exception)
        {
            return SyntaxError(exception);
        }

        return Load(document);
    }

    /// <summary>Loads config text; <paramref name="fileName"/> is used in messages.</summary>
    public static ConfigLoadResult Parse(string text, string fileName)
    {
        TomlDocument document;
        try
        {
            document = TomlReader.Parse(text, fileName);
        }
        catch (TomlException exception)
        {
            return SyntaxError(exception);
        }

        return Load(document);
    }

    /// <summary>Loads an already parsed document.</summary>
    public static ConfigLoadResult Load(TomlDocument document)
    {
        var errors = new ConfigErrorList();
        var binder = new ConfigBinder(document.FileName, errors);
        var config = binder.Bind(document);
        ConfigValidator.Validate(config, binder.Gaps, errors);
        var problems = errors.Items
            .OrderBy(problem => problem.Location.Line)
            .ThenBy(problem => problem.Location.Column)
            .ToList();
        return new ConfigLoadResult(errors.ErrorCount == 0 ? config : null, problems);
    }

    private static ConfigLoadResult SyntaxError(TomlException exception) =>
        Failed(new ConfigError(
            ConfigSeverity.Error,
            new SourceLocation(exception.FileName, exception.Line, exception.Column),
            string.Empty,
            "TOML syntax: " + exception.Reason));

    private static ConfigLoadResult Failed(ConfigError error) => new(null, [error]);
}
