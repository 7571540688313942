import NIOCore
import NIOSSL
import SidecacheCore

/// TLS for every connection to Redis (`rediss://`): one client context, built once from
/// `store.tls` (system CAs unless `ca` names others; a client certificate for mutual
/// TLS), and the name sent as SNI and checked against the server's certificate.
public struct RedisTLS: Sendable {
    let context: NIOSSLContext
    /// `store.tls.serverName`: sent and checked instead of each server's own host name.
    let serverName: String?

    /// A problem with one of `store.tls`'s files, named by its key.
    public struct Problem: Error, CustomStringConvertible {
        public let key: String
        public let detail: String
        public var description: String { "store.tls.\(key): \(detail)" }
    }

    public static func make(_ settings: RedisTLSSettings) throws -> RedisTLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let ca = settings.ca {
            configuration.trustRoots = .certificates(try load("ca") { try NIOSSLCertificate.fromPEMFile(ca) })
        }
        if let cert = settings.cert, let key = settings.key {
            configuration.certificateChain = try load("cert") { try NIOSSLCertificate.fromPEMFile(cert) }.map { .certificate($0) }
            configuration.privateKey = .privateKey(try load("key") { try NIOSSLPrivateKey(file: key, format: .pem) })
        }
        if !settings.verify { configuration.certificateVerification = .none }
        // Building the context checks the client key against its certificate, and the trust roots.
        let context = try load(settings.cert == nil ? "ca" : "key") { try NIOSSLContext(configuration: configuration) }
        return RedisTLS(context: context, serverName: settings.serverName)
    }

    private static func load<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Problem(key: key, detail: "\(error)")
        }
    }

    /// The handler that encrypts one connection to `host` (the URL's server, a master a
    /// sentinel named, a cluster node), first in its pipeline. SNI and the certificate
    /// check use `serverName`, else the host's name; an IP address is never sent as SNI,
    /// the certificate is checked against it instead.
    func handler(host: String) throws -> NIOSSLClientHandler {
        let named = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        return try NIOSSLClientHandler(context: context, serverHostname: serverName ?? named)
    }
}
