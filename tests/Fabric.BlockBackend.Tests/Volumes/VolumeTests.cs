using Fabric.BlockBackend.Tests.Support;
using Fabric.BlockBackend.Volumes;
using Fabric.Core.Io;
using FsCheck;
using FsCheck.Fluent;

namespace Fabric.BlockBackend.Tests.Volumes;

public sealed class VolumeTests
{
    private const long Size = 1 << 20;

    private static T Run<T>(ValueTask<T> t) => t.AsTask().GetAwaiter().GetResult();

    [Fact]
    public void File_and_memory_volumes_agree_with_a_byte_array_model()
    {
        using var dir = new TempDir();
        var gen = from kind in Gen.Choose(0, 4)
                  from offset in Gen.Choose(0, (int)Size - 1)
                  from length in Gen.Choose(1, 70000)
                  from value in Gen.Choose(0, 255)
                  select (kind, offset, length, (byte)value);
        int run = 0;
        var property = Prop.ForAll(Arb.From(Gen.ArrayOf(gen)), ops =>
        {
            var model = new byte[Size];
            var file = FileBlockVolume.Create(dir[$"v{run++}.img"], Size);
            var memory = new MemoryBlockVolume("m", Size);
            try
            {
                foreach (var (kind, offset, rawLength, value) in ops)
                {
                    int length = (int)Math.Min(rawLength, Size - offset);
                    foreach (IBlockVolume v in new IBlockVolume[] { file, memory })
                    {
                        switch (kind)
                        {
                            case 0:
                                Assert.Equal(BlockIoStatus.Ok, Run(v.WriteAsync(offset, Enumerable.Repeat(value, length).ToArray(), value % 2 == 0, default)));
                                break;
                            case 1:
                                Assert.Equal(BlockIoStatus.Ok, Run(v.DiscardAsync(offset, length, default)));
                                break;
                            case 2:
                                Assert.Equal(BlockIoStatus.Ok, Run(v.WriteZeroesAsync(offset, length, default)));
                                break;
                            case 3:
                                Assert.Equal(BlockIoStatus.Ok, Run(v.FlushAsync(default)));
                                break;
                            default:
                                var back = new byte[length];
                                Assert.Equal(BlockIoStatus.Ok, Run(v.ReadAsync(offset, back, default)));
                                Assert.True(back.AsSpan().SequenceEqual(model.AsSpan(offset, length)));
                                break;
                        }
                    }
                    if (kind == 0)
                    {
                        model.AsSpan(offset, length).Fill(value);
                    }
                    else if (kind is 1 or 2)
                    {
                        model.AsSpan(offset, length).Clear();
                    }
                }
            }
            finally
            {
                file.DisposeAsync().AsTask().Wait();
            }
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), property);
    }

    [Fact]
    public async Task Out_of_range_and_read_only_requests_fail_as_values()
    {
        using var dir = new TempDir();
        await using var file = FileBlockVolume.Create(dir["r.img"], Size);
        foreach (IBlockVolume v in new IBlockVolume[] { file, new MemoryBlockVolume("m", Size) })
        {
            Assert.Equal(BlockIoStatus.OutOfRange, await v.ReadAsync(Size - 10, new byte[20], default));
            Assert.Equal(BlockIoStatus.OutOfRange, await v.WriteAsync(-1, new byte[1], false, default));
            Assert.Equal(BlockIoStatus.OutOfRange, await v.DiscardAsync(long.MaxValue - 5, 10, default));
            Assert.Equal(BlockIoStatus.OutOfRange, await v.WriteZeroesAsync(0, Size + 1, default));
        }
        await using var ro = FileBlockVolume.Open(dir["r.img"], readOnly: true);
        Assert.True(ro.ReadOnly);
        Assert.Equal(BlockIoStatus.ReadOnly, await ro.WriteAsync(0, new byte[512], false, default));
        Assert.Equal(BlockIoStatus.Ok, await ro.ReadAsync(0, new byte[512], default));
    }
}
