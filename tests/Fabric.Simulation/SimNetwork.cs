using Fabric.Client.Messaging;
using Fabric.Proto;
using Google.Protobuf;

namespace Fabric.Simulation;

/// <summary>
/// The simulated network between OSDs, clients and the monitor. Every message is encoded to bytes and
/// decoded on delivery (so the codec is exercised and nothing is shared), delayed by a random time
/// (which reorders), sometimes lost or duplicated, and dropped across partitions or to a process that
/// crashed since it was sent.
/// </summary>
public sealed class SimNetwork
{
    public const int MonitorEndpoint = 0;

    private readonly SimScheduler _scheduler;
    private readonly Random _random;
    private readonly HashSet<(int, int)> _cut = new();

    public SimNetwork(SimScheduler scheduler, Random random)
    {
        _scheduler = scheduler;
        _random = random;
    }

    public double LossRate { get; set; }

    public double DuplicateRate { get; set; }

    public long Sent { get; private set; }

    public long Dropped { get; private set; }

    /// <summary>Endpoint id → whether it is alive and its process generation (bumped at each crash).</summary>
    public Func<int, (bool Alive, int Generation)> Liveness { get; set; } = _ => (true, 0);

    public void Cut(int a, int b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    public void HealAll() => _cut.Clear();

    public void Heal(int a)
    {
        _cut.RemoveWhere(p => p.Item1 == a || p.Item2 == a);
    }

    public bool Connected(int a, int b) => !_cut.Contains((a, b));

    public void Send(int from, int to, StorageMessageType type, IMessage header, ReadOnlySpan<byte> data, Action<StorageMessageType, IMessage, DataBuffer> deliver)
    {
        Sent++;
        if (!Connected(from, to) || (LossRate > 0 && _random.NextDouble() < LossRate))
        {
            Dropped++;
            return;
        }
        byte[] headerBytes = header.ToByteArray();
        byte[] payload = data.ToArray();
        int copies = DuplicateRate > 0 && _random.NextDouble() < DuplicateRate ? 2 : 1;
        int generation = Liveness(to).Generation;
        for (int i = 0; i < copies; i++)
        {
            long delay = 40 + _random.Next(200);
            if (_random.Next(50) == 0)
            {
                delay += _random.Next(20_000); // an occasional slow path reorders messages
            }
            delay += payload.Length / 2000; // ~2 GB/s
            _scheduler.After(delay, () =>
            {
                (bool alive, int gen) = Liveness(to);
                if (!alive || gen != generation || !Connected(from, to))
                {
                    Dropped++;
                    return;
                }
                IMessage? parsed = StorageMessages.Parse(type, headerBytes);
                if (parsed is null)
                {
                    throw new InvalidOperationException($"message type {type} did not decode");
                }
                DataBuffer buffer = DataBuffer.CopyOf(payload);
                try
                {
                    deliver(type, parsed, buffer);
                }
                finally
                {
                    buffer.Release();
                }
            });
        }
    }
}
