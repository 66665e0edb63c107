namespace Fabric.IntegrationTests.Network.Support;

/// <summary>A <see cref="FakeStreamNic"/> attached to a node's switch; disposing detaches it first.</summary>
public sealed class AttachedNic : IAsyncDisposable
{
    public AttachedNic(TestVm vm, SwitchAdmin node, FakeStreamNic nic)
    {
        Vm = vm;
        Node = node;
        Nic = nic;
    }

    public TestVm Vm { get; }

    public SwitchAdmin Node { get; }

    public FakeStreamNic Nic { get; }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Node.DetachAsync(Vm.Port);
        }
        finally
        {
            await Nic.DisposeAsync();
        }
    }
}
