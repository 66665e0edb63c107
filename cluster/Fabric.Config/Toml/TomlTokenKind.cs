namespace Fabric.Config.Toml;

/// <summary>The tokens of TOML. Which ones the lexer produces depends on whether it reads a key or a value.</summary>
internal enum TomlTokenKind
{
    EndOfFile,
    Newline,
    Equals,
    Dot,
    Comma,
    LeftBracket,
    RightBracket,
    /// <summary><c>[[</c> with nothing between the brackets (only in key context).</summary>
    DoubleLeftBracket,
    /// <summary><c>]]</c> with nothing between the brackets (only in key context).</summary>
    DoubleRightBracket,
    LeftBrace,
    RightBrace,
    BareKey,
    BasicString,
    LiteralString,
    MultilineBasicString,
    MultilineLiteralString,
    /// <summary>An unquoted value word: a number, boolean, date or time, classified by the parser.</summary>
    Scalar,
}
