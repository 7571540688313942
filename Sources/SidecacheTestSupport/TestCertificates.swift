import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway PKI for the tests' TLS redis-servers, made with swift-certificates (no
/// openssl tool needed): a CA, a server certificate for 127.0.0.1 and localhost, and a
/// client certificate, as PEM files in a fresh directory. A second call makes an
/// unrelated CA (for "wrong CA" tests); `serverDNSName` makes the server certificate name
/// only that host (for "wrong name" tests).
public struct TestCertificates: Sendable {
    public let directory: String
    public let ca: String
    public let serverCert: String
    public let serverKey: String
    public let clientCert: String
    public let clientKey: String

    public static func make(serverDNSName: String? = nil) throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "sidecache-pki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("sidecache test CA \(UUID().uuidString.prefix(8))") }
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        let loopback: [GeneralName] = [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])), .dnsName("localhost")]
        func leaf(_ name: String, _ usage: ExtendedKeyUsage.Usage, names: [GeneralName] = loopback) throws -> (Certificate, P256.Signing.PrivateKey) {
            let key = P256.Signing.PrivateKey()
            let cert = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
                notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: caName,
                subject: try DistinguishedName { CommonName(name) }, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([usage])
                    SubjectAlternativeNames(names)
                },
                issuerPrivateKey: .init(caKey))
            return (cert, key)
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = directory + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let (server, serverKey) = try leaf(serverDNSName ?? "127.0.0.1", .serverAuth,
                                           names: serverDNSName.map { [.dnsName($0)] } ?? loopback)
        let (client, clientKey) = try leaf("sidecache test client", .clientAuth)
        return TestCertificates(
            directory: directory,
            ca: try write("ca.pem", try ca.serializeAsPEM().pemString),
            serverCert: try write("server.pem", try server.serializeAsPEM().pemString),
            serverKey: try write("server.key", serverKey.pemRepresentation),
            clientCert: try write("client.pem", try client.serializeAsPEM().pemString),
            clientKey: try write("client.key", clientKey.pemRepresentation))
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
