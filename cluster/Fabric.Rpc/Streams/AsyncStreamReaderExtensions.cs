using System.Runtime.CompilerServices;

namespace Fabric.Rpc.Streams;

public static class AsyncStreamReaderExtensions
{
    /// <summary>The stream as an IAsyncEnumerable: <c>await foreach (var m in call.ResponseStream.ReadAllAsync(ct))</c>.</summary>
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(this IAsyncStreamReader<T> reader,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (await reader.MoveNextAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return reader.Current;
        }
    }
}
