namespace Fabric.Config.Model;

/// <summary>A place in a config file, printed the way compilers do: "cluster.toml:12:8".</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
