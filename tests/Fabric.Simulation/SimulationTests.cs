using Xunit.Abstractions;

namespace Fabric.Simulation;

/// <summary>
/// The deterministic simulation seeds CI runs. A failing seed prints <c>SEED=N</c>; replay it exactly
/// with <c>FABRIC_SIM_SEED=N dotnet test tests/Fabric.Simulation -c Release</c> (which then runs only
/// that seed, under every fault mode).
/// </summary>
public class SimulationTests(ITestOutputHelper output)
{
    private const int MixedSeeds = 12;
    private const int FlipSeeds = 4;
    private const int RejoinSeeds = 4;

    /// <summary>Seeds that once failed, kept as regressions: 312 and 448 freed a placed slot twice (two deletes of one
    /// object in one batch); 953, 1405 and 1895 left a replica waiting after a duplicated peering query of its session.</summary>
    private static readonly int[] RegressionSeeds = [312, 448, 953, 1405, 1895];

    public static IEnumerable<object[]> Mixed() =>
        Environment.GetEnvironmentVariable("FABRIC_SIM_SEED") is { Length: > 0 } ? Seeds(MixedSeeds, 1) : Seeds(MixedSeeds, 1).Concat(RegressionSeeds.Select(s => new object[] { s }));

    public static IEnumerable<object[]> Flips() => Seeds(FlipSeeds, 1001);

    public static IEnumerable<object[]> Rejoins() => Seeds(RejoinSeeds, 2001);

    [Theory]
    [MemberData(nameof(Mixed))]
    public void Acknowledged_writes_survive_crashes_partitions_and_loss(int seed) => RunSeed(seed, SimFaults.Mixed);

    [Theory]
    [MemberData(nameof(Flips))]
    public void Bit_flips_are_caught_and_repaired_never_returned(int seed) => RunSeed(seed, SimFaults.BitFlips);

    [Theory]
    [MemberData(nameof(Rejoins))]
    public void Nodes_marked_down_while_running_rejoin_with_a_new_incarnation_and_lead_their_pgs_again(int seed) => RunSeed(seed, SimFaults.Rejoins);

    [Fact]
    public void A_seed_replays_exactly()
    {
        var (ok1, report1, run1) = SimRun.Execute(7, SimFaults.Mixed, faultSeconds: 10);
        var (ok2, report2, run2) = SimRun.Execute(7, SimFaults.Mixed, faultSeconds: 10);
        Assert.True(ok1, report1);
        Assert.True(ok2, report2);
        Assert.Equal(run1.EventsExecuted, run2.EventsExecuted);
        Assert.Equal(run1.StateDigest, run2.StateDigest);
        Assert.Equal(run1.Log, run2.Log);
    }

    /// <summary>Exploration: FABRIC_SIM_SWEEP=FIRST-LAST runs that range of seeds (not part of CI).</summary>
    [Fact]
    public void Sweep_of_seeds_from_the_environment()
    {
        string? sweep = Environment.GetEnvironmentVariable("FABRIC_SIM_SWEEP");
        if (sweep is null)
        {
            return;
        }
        string[] parts = sweep.Split('-');
        var failures = new List<string>();
        for (int seed = int.Parse(parts[0]); seed <= int.Parse(parts[1]); seed++)
        {
            foreach (SimFaults faults in new[] { SimFaults.Mixed, SimFaults.BitFlips, SimFaults.Rejoins })
            {
                var (ok, report, _) = SimRun.Execute(seed, faults);
                output.WriteLine($"SEED={seed} {faults}: {(ok ? report : "FAILED")}");
                if (!ok)
                {
                    failures.Add($"SEED={seed} {faults}: {report[..Math.Min(report.Length, 3000)]}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    private void RunSeed(int seed, SimFaults faults)
    {
        var (ok, report, _) = SimRun.Execute(seed, faults);
        output.WriteLine($"SEED={seed} {faults}: {(ok ? report : "FAILED")}");
        if (!ok)
        {
            Assert.Fail($"SEED={seed} ({faults}) failed; replay with: FABRIC_SIM_SEED={seed} dotnet test tests/Fabric.Simulation -c Release\n{report}");
        }
    }

    private static IEnumerable<object[]> Seeds(int count, int first)
    {
        string? fixedSeed = Environment.GetEnvironmentVariable("FABRIC_SIM_SEED");
        if (int.TryParse(fixedSeed, out int seed))
        {
            yield return new object[] { seed };
            yield break;
        }
        for (int i = 0; i < count; i++)
        {
            yield return new object[] { first + i };
        }
    }
}
