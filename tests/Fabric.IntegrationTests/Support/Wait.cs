namespace Fabric.IntegrationTests.Support;

/// <summary>Waits for a condition with a deadline: the only way tests wait. The failure message says
/// what was awaited and what was last seen.</summary>
public static class Wait
{
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, TimeSpan? poll = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last = default!;
        Exception? lastError = null;
        while (true)
        {
            try
            {
                last = await probe();
                lastError = null;
                if (done(last)) return last;
            }
            catch (Exception e)
            {
                lastError = e;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}; last seen: {(lastError is not null ? lastError.Message : last?.ToString())}");
            }
            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(100));
        }
    }

    public static Task UntilAsync(Func<bool> done, TimeSpan timeout, string what) =>
        UntilAsync(() => Task.FromResult(done()), d => d, timeout, what);
}
