namespace Fabric.BlockBackend.Nbd;

/// <summary>The peer broke the protocol; the connection is closed with this reason logged.</summary>
internal sealed class NbdProtocolException(string message) : Exception(message);
