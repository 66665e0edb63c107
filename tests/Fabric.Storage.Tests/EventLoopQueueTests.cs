using Fabric.Storage.Osd;

namespace Fabric.Storage.Tests;

/// <summary>
/// The OSD loop's inbox: with several producers racing a consumer that keeps falling asleep, every
/// action runs exactly once and each producer's actions run in its order (no lost wake-up: a lost one
/// would leave the consumer asleep with work queued, and the deadline would fail the test); after
/// Complete the queued actions still run and new ones are refused.
/// </summary>
public sealed class EventLoopQueueTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Every_action_of_racing_producers_runs_once_and_in_each_producers_order()
    {
        const int producers = 4;
        const int perProducer = 50_000;
        var queue = new EventLoopQueue();
        int[] last = Enumerable.Repeat(-1, producers).ToArray();
        long ran = 0;
        var consumer = new Thread(() =>
        {
            while (queue.TryTake(out Action action))
            {
                action();
            }
        });
        consumer.Start();
        Task[] tasks = Enumerable.Range(0, producers).Select(p => Task.Run(() =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                int n = i;
                Assert.True(queue.TryAdd(() =>
                {
                    // Only the consumer thread touches last[]: no lock needed.
                    Assert.Equal(last[p] + 1, n);
                    last[p] = n;
                    ran++;
                }));
                if (i % 1000 == 0)
                {
                    Thread.Sleep(1); // let the consumer drain and go to sleep, then wake it again
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(Deadline);
        DateTime deadline = DateTime.UtcNow + Deadline;
        while (Interlocked.Read(ref ran) < producers * perProducer)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {Interlocked.Read(ref ran)} of {producers * perProducer} actions ran");
            await Task.Delay(10);
        }
        queue.Complete();
        Assert.True(consumer.Join(Deadline));
        Assert.All(last, l => Assert.Equal(perProducer - 1, l));
    }

    [Fact]
    public void After_complete_queued_actions_still_run_and_new_ones_are_refused()
    {
        var queue = new EventLoopQueue();
        int ran = 0;
        Assert.True(queue.TryAdd(() => ran++));
        Assert.True(queue.TryAdd(() => ran++));
        queue.Complete();
        Assert.False(queue.TryAdd(() => ran++));
        while (queue.TryTake(out Action action))
        {
            action();
        }
        Assert.Equal(2, ran);
    }
}
