namespace Fabric.BlockBackend.VhostUser;

/// <summary>The front-end broke the protocol; the session is closed with this reason logged.</summary>
internal sealed class VhostUserProtocolException(string message) : Exception(message);
