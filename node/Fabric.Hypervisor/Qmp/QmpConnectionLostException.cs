namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// The QMP connection ended (QEMU exited, closed the socket, or sent something that is not QMP) while a
/// command was waiting for its answer, or a command was issued after it ended.
/// </summary>
public sealed class QmpConnectionLostException : Exception
{
    public QmpConnectionLostException(string message, Exception? inner = null) : base(message, inner) { }
}
