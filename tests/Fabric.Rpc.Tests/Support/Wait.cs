namespace Fabric.Rpc.Tests.Support;

/// <summary>Waiting with a deadline: a test that waits never hangs the suite.</summary>
public static class Wait
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    public static Task<T> For<T>(Task<T> task, string what) => task.WaitAsync(Default).ContinueWith(
        t => t.IsFaulted && t.Exception!.InnerException is TimeoutException
            ? throw new TimeoutException($"Timed out waiting for {what}")
            : t.GetAwaiter().GetResult(), TaskScheduler.Default);

    public static async Task For(Task task, string what)
    {
        try
        {
            await task.WaitAsync(Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out waiting for {what}");
        }
    }
}
