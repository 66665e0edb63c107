namespace Fabric.Hypervisor.Qmp;

/// <summary>
/// QEMU answered a command with an error. <see cref="ErrorClass"/> is QMP's class ("GenericError",
/// "CommandNotFound", "DeviceNotActive", ...) and <see cref="Description"/> QEMU's own sentence.
/// </summary>
public sealed class QmpException : Exception
{
    public QmpException(string command, string errorClass, string description)
        : base($"QMP {command} failed: {errorClass}: {description}")
    {
        Command = command;
        ErrorClass = errorClass;
        Description = description;
    }

    public string Command { get; }
    public string ErrorClass { get; }
    public string Description { get; }
}
