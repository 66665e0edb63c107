using Fabric.Hypervisor.Guest;

namespace Fabric.Hypervisor.Tests.Infra;

/// <summary>Builds the tiny guest once per test run (the script is a no-op when it is up to date).</summary>
public sealed class GuestImageFixture : IAsyncLifetime
{
    public static readonly string ImageDir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fabric-test-guest");

    public GuestImagePaths Image { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (Prerequisites.MissingQemu is not null && !Prerequisites.InCi) return;
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        Image = await GuestImage.BuildAsync(ImageDir, cts.Token);
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

[CollectionDefinition(Name)]
public sealed class QemuCollection : ICollectionFixture<GuestImageFixture>
{
    public const string Name = "qemu";
}
