namespace Fabric.Rpc.Methods;

/// <summary>The four call shapes, from the "stream" keywords of a method in the .proto.</summary>
public enum MethodType
{
    Unary,
    ServerStreaming,
    ClientStreaming,
    DuplexStreaming,
}
