using System.Text.RegularExpressions;

namespace Fabric.Config.Validation;

/// <summary>
/// Names of nodes, pools, volumes, networks and VMs end up in object names, socket paths, switch port
/// names and CLI arguments, so they are kept to a safe alphabet.
/// </summary>
public static partial class NameRules
{
    public const string Expected = "1-63 characters: letters, digits, '-', '_', '.', starting with a letter or digit";

    /// <summary>Linux interface names are at most 15 bytes (IFNAMSIZ - 1).</summary>
    public const string InterfaceExpected = "a Linux interface name: 1-15 characters, no '/', ':' or whitespace";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    public static bool IsValidInterfaceName(string name) =>
        name.Length is >= 1 and <= 15 && name != "." && name != ".."
        && name.All(c => c > ' ' && c < '\u007F' && c != '/' && c != ':');
}
