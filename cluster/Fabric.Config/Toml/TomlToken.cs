namespace Fabric.Config.Toml;

/// <summary>
/// One token. For strings <see cref="Text"/> is the value with escapes resolved; for bare keys and
/// scalars it is the text as written.
/// </summary>
internal readonly record struct TomlToken(TomlTokenKind Kind, string Text, TomlPosition Position)
{
    public bool IsKeySegment =>
        Kind is TomlTokenKind.BareKey or TomlTokenKind.BasicString or TomlTokenKind.LiteralString;

    public bool IsString =>
        Kind is TomlTokenKind.BasicString or TomlTokenKind.LiteralString
            or TomlTokenKind.MultilineBasicString or TomlTokenKind.MultilineLiteralString;

    /// <summary>How the token is named in error messages.</summary>
    public string Describe() => Kind switch
    {
        TomlTokenKind.EndOfFile => "the end of the file",
        TomlTokenKind.Newline => "the end of the line",
        TomlTokenKind.Equals => "'='",
        TomlTokenKind.Dot => "'.'",
        TomlTokenKind.Comma => "','",
        TomlTokenKind.LeftBracket => "'['",
        TomlTokenKind.RightBracket => "']'",
        TomlTokenKind.DoubleLeftBracket => "'[['",
        TomlTokenKind.DoubleRightBracket => "']]'",
        TomlTokenKind.LeftBrace => "'{'",
        TomlTokenKind.RightBrace => "'}'",
        TomlTokenKind.BareKey => $"'{Text}'",
        TomlTokenKind.Scalar => $"'{Text}'",
        TomlTokenKind.MultilineBasicString or TomlTokenKind.MultilineLiteralString => "a multi-line string",
        _ => "a string",
    };
}
