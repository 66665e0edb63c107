using Fabric.Hypervisor.Migration;
using Xunit;

namespace Fabric.Hypervisor.Tests.Migration;

public sealed class DowntimeStepsTests
{
    [Fact]
    public void Starts_small_then_doubles_each_pass_up_to_the_requested_limit()
    {
        var limits = Enumerable.Range(1, 10).Select(p => DowntimeSteps.LimitFor(300, 25, p)).ToArray();
        Assert.Equal(new uint[] { 25, 25, 25, 50, 100, 200, 300, 300, 300, 300 }, limits);
    }

    [Fact]
    public void An_initial_limit_at_or_above_the_maximum_gives_the_maximum_from_the_start()
    {
        Assert.All(Enumerable.Range(1, 8), p => Assert.Equal(20u, DowntimeSteps.LimitFor(20, 25, p)));
        Assert.All(Enumerable.Range(1, 8), p => Assert.Equal(300u, DowntimeSteps.LimitFor(300, 300, p)));
    }

    [Fact]
    public void Never_exceeds_the_maximum_however_many_passes_and_never_returns_zero()
    {
        Assert.Equal(300u, DowntimeSteps.LimitFor(300, 25, 1_000_000));
        Assert.Equal(uint.MaxValue, DowntimeSteps.LimitFor(uint.MaxValue, 25, 1_000_000));
        Assert.Equal(1u, DowntimeSteps.LimitFor(300, 0, 1));
    }
}
