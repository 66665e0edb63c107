namespace Fabric.Config.Toml;

/// <summary>
/// How a table came to exist. TOML's redefinition rules depend on it: a table may be defined by one
/// header only; a table made by dotted keys cannot be reopened by a header; an inline table is
/// closed for good; a table made implicitly as a header's parent may be defined later.
/// </summary>
internal enum TomlTableOrigin
{
    /// <summary>The document's root table.</summary>
    Root,

    /// <summary>Created as a parent of a header (<c>a</c> in <c>[a.b]</c>); a later <c>[a]</c> may define it.</summary>
    Implicit,

    /// <summary>Defined by a <c>[header]</c>.</summary>
    Header,

    /// <summary>An element of an array of tables, made by <c>[[header]]</c>.</summary>
    ArrayElement,

    /// <summary>Created by dotted keys (<c>a.b = 1</c> makes table <c>a</c>).</summary>
    Dotted,

    /// <summary>An inline table <c>{ ... }</c> or a table inside one: immutable once written.</summary>
    Inline,
}
