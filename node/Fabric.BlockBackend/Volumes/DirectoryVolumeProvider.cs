using Fabric.Core.Io;

namespace Fabric.BlockBackend.Volumes;

/// <summary>
/// Volumes as raw files <c>NAME.img</c> in one directory, opened as <see cref="FileBlockVolume"/>s. For
/// tests, benchmarks and tools; the node serves the replicated volume client instead.
/// </summary>
public sealed class DirectoryVolumeProvider : IBlockVolumeProvider
{
    public DirectoryVolumeProvider(string directory)
    {
        Directory.CreateDirectory(directory);
        RootDirectory = directory;
    }

    public string RootDirectory { get; }

    /// <summary>Volume names are what NBD clients send: keep them to a safe file-name alphabet.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 128 && name[0] != '.' &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    public string PathOf(string name) => Path.Combine(RootDirectory, name + ".img");

    /// <summary>Creates (or replaces) a sparse volume file.</summary>
    public FileBlockVolume Create(string name, long sizeBytes)
    {
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid volume name (letters, digits, '-', '_', '.').", nameof(name));
        }
        return FileBlockVolume.Create(PathOf(name), sizeBytes, name);
    }

    public ValueTask<OpenVolumeResult> OpenAsync(string volumeName, VolumeOpenOptions options, CancellationToken cancellationToken)
    {
        if (!IsValidName(volumeName))
        {
            return new(OpenVolumeResult.Fail($"'{volumeName}' is not a valid volume name"));
        }
        string path = PathOf(volumeName);
        if (!File.Exists(path))
        {
            return new(OpenVolumeResult.Fail($"no volume named '{volumeName}' in {RootDirectory}"));
        }
        try
        {
            return new(OpenVolumeResult.Ok(FileBlockVolume.Open(path, volumeName, options.ReadOnly)));
        }
        catch (IOException e)
        {
            return new(OpenVolumeResult.Fail($"cannot open volume '{volumeName}': {e.Message}"));
        }
        catch (UnauthorizedAccessException e)
        {
            return new(OpenVolumeResult.Fail($"cannot open volume '{volumeName}': {e.Message}"));
        }
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> names = Directory.EnumerateFiles(RootDirectory, "*.img")
            .Select(p => Path.GetFileNameWithoutExtension(p))
            .Where(IsValidName)
            .Order(StringComparer.Ordinal)
            .ToList();
        return new(names);
    }
}
