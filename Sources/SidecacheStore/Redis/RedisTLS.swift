import NIOCore
import NIOSSL
import SidecacheCore

/// TLS for every connection to Redis (`rediss://`): one client context, built once from
/// `store.tls` (system CAs unless `ca` names others; a client certificate for mutual
/// TLS), and the name sent as SNI and checked against the server's certificate.
public struct RedisTLS: Sendable {
    let context: NIOSSLContext
    /// Nil when the URL names an IP address and no `serverName` is set: the certificate
    /// is then checked against that address (SNI never carries an IP).
    let serverName: String?

    /// A problem with one of `store.tls`'s files, named by its key.
    public struct Problem: Error, CustomStringConvertible {
        public let key: String
        public let detail: String
        public var description: String { "store.tls.\(key): \(detail)" }
    }

    /// `host`: the server's name from the URL; nil with Sentinel, where the master's
    /// address comes from a sentinel (then `serverName`, else the address, is checked).
    public static func make(_ settings: RedisTLSSettings, host: String?) throws -> RedisTLS {
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
        let named = host.flatMap { (try? SocketAddress(ipAddress: $0, port: 0)) == nil ? $0 : nil }
        return RedisTLS(context: context, serverName: settings.serverName ?? named)
    }

    private static func load<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Problem(key: key, detail: "\(error)")
        }
    }

    /// The handler that encrypts one connection; first in its pipeline.
    func handler() throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverName)
    }
}
