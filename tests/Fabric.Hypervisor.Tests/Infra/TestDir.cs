namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>A short temporary directory (unix socket paths must stay under 108 bytes), removed on dispose.</summary>
public sealed class TestDir : IDisposable
{
    public TestDir()
    {
        Path = Directory.CreateTempSubdirectory("fhv-").FullName;
    }

    public string Path { get; }

    public string Sub(string name)
    {
        var p = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(p);
        return p;
    }

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("FHV_KEEP") == "1") return; // keep for debugging
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
