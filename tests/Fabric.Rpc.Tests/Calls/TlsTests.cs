using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fabric.Rpc.Client;
using Fabric.Rpc.Protocol;
using Fabric.Rpc.Tests.Protos;
using Fabric.Rpc.Tests.Support;

namespace Fabric.Rpc.Tests.Calls;

public sealed class TlsTests
{
    [Fact]
    public async Task Calls_work_over_tls_with_a_trusted_certificate_and_fail_unavailable_without_trust()
    {
        using X509Certificate2 certificate = SelfSigned();
        await using TestServer server = await TestServer.StartAsync(o => o.Certificate = certificate);
        string target = $"https://127.0.0.1:{server.Endpoint.Port}";

        using var trusting = new RpcChannel(target, new RpcChannelOptions
        {
            ServerCertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString(),
        });
        Assert.Equal("secret", (await trusting.UnaryAsync(TestServer.Echo, new EchoRequest { Text = "secret" })).Text);
        using (ServerStreamingCall<EchoReply> call = trusting.ServerStreaming(TestServer.Count, new CountRequest { Count = 100 }))
        {
            int n = 0;
            while (await call.ResponseStream.MoveNextAsync())
            {
                n++;
            }

            Assert.Equal(100, n);
        }

        using var strict = new RpcChannel(target);
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => strict.UnaryAsync(TestServer.Echo, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    private static X509Certificate2 SelfSigned()
    {
        using RSA key = RSA.Create(2048);
        var request = new CertificateRequest("CN=fabric-rpc-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12 so the private key is usable by SslStream on Linux.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}
