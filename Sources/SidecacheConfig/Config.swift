#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SidecacheCore

/// proxy.json, validated and typed. Built only by `ConfigLoader`.
public struct Config: Sendable {
    public var listen: ListenAddress
    public var upstream: UpstreamURL
    public var store: StoreConfig
    public var defaults: RoutePolicy
    public var defaultTTL: TTLPolicy
    public var routes: RouteTable
    public var purge: [PurgeRule]
    public var warm: [WarmTarget]
    public var admin: AdminConfig?
    public var limits: Limits
    /// Event loop threads; nil means one per available core.
    public var threads: Int?
    public var log: LogConfig
    /// `auth.jwt`: how `key.claims` routes verify tokens.
    public var jwt: JWTConfig?
    /// The Host clients use (top-level `host`): the default Host of warm and refresh
    /// requests. Nil: the upstream's authority.
    public var host: String?

    /// The Host of the proxy's own requests (warming, refresh) when none is named.
    public var defaultHost: String { host ?? upstream.authority }
}

/// `auth.jwt`. Secrets and key material are never logged or printed by `check`.
public struct JWTConfig: Sendable, Equatable {
    /// A JWK Set as read from its file.
    public struct KeySet: Sendable, Equatable {
        public var path: String
        public var json: Data
    }

    public var from: IdentitySource = .header("Authorization")
    public var secret: String?
    public var jwks: KeySet?
    public var issuer: String?
    public var audience: String?
    public var leeway: Duration = .zero

    static let minimumSecretBytes = 32

    /// Whose tokens these are (`ClaimsKey.authority`): part of every `key.claims` key.
    public var authority: String {
        ClaimsKey.authority(issuer: issuer, audience: audience, keys: [Array((secret ?? "").utf8), Array(jwks?.json ?? Data())])
    }

    public init() {}
}

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether both cannot be bound at once: one port (not 0, which the system picks),
    /// and one host, or a wildcard that takes every host.
    func overlaps(_ other: ListenAddress) -> Bool {
        let wildcards: Set<String> = ["0.0.0.0", "::"]
        return port != 0 && port == other.port && (host == other.host || wildcards.contains(host) || wildcards.contains(other.host))
    }

    /// True for 127.0.0.0/8, ::1 and localhost.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// `host:port` or `[v6]:port`.
    static func parse(_ text: String) -> ListenAddress? {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let p = Int(port), (0...65535).contains(p) else { return nil }
        return ListenAddress(host: String(host), port: p)
    }
}

/// The upstream base URL. Request paths are appended byte for byte.
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    /// A path prefix without trailing slash ("" for none).
    public let basePath: String
    /// Host and port as a Host header names them (the port only when not the scheme's).
    /// Spelled once here: every forwarded request uses it.
    public let authority: String
    /// Scheme, authority and base path: what every upstream URL starts with.
    private let prefix: String

    public init(scheme: String, host: String, port: Int, basePath: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
        let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        authority = (scheme == "http" && port == 80) || (scheme == "https" && port == 443) ? h : "\(h):\(port)"
        prefix = "\(scheme)://\(authority)\(basePath)"
    }

    public var description: String { prefix }

    /// The URL to fetch for an origin-form request target.
    public func url(for target: String) -> String { prefix + target }

    static func parse(_ text: String) -> Result<UpstreamURL, Invalid> {
        let scheme: String
        if text.hasPrefix("http://") { scheme = "http" } else if text.hasPrefix("https://") { scheme = "https" } else {
            return .failure(Invalid("\"\(text)\" is not an http:// or https:// URL"))
        }
        let rest = text.dropFirst(scheme.count + 3)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var base = String(rest[slash...])
        if base.contains("?") || base.contains("#") { return .failure(Invalid("the upstream URL cannot have a query or fragment")) }
        while base.hasSuffix("/") { base.removeLast() }
        let authority = String(rest[..<slash])
        if authority.contains("@") { return .failure(Invalid("credentials in the upstream URL are not supported")) }
        let defaultPort = scheme == "http" ? 80 : 443
        if let addr = ListenAddress.parse(authority) {
            return .success(UpstreamURL(scheme: scheme, host: addr.host, port: addr.port, basePath: base))
        }
        guard !authority.isEmpty, !authority.contains(":") || (authority.hasPrefix("[") && authority.hasSuffix("]")) else {
            return .failure(Invalid("\"\(text)\" has no valid host[:port]"))
        }
        let host = authority.hasPrefix("[") ? String(authority.dropFirst().dropLast()) : authority
        return .success(UpstreamURL(scheme: scheme, host: host, port: defaultPort, basePath: base))
    }
}


public struct StoreConfig: Sendable, Equatable {
    /// L1 byte budget (`store.memory`); 0 turns the memory tier off.
    public var memoryBytes: Int
    /// The shared L2; nil for memory only.
    public var redis: RedisEndpoint?
    public var consistency: Consistency
    public var prefix: String
    public var timeout: Duration
    /// Strict: how long an L1 entry Redis cannot vouch for is still served.
    public var outageGrace: Duration = .seconds(2)
    /// `store.tls`, for `rediss://`.
    public var tls: RedisTLSSettings?
    /// `store.signingKey`: the HMAC key entries in Redis are signed with.
    public var signingKey: String?
}

public struct WarmTarget: Sendable, Equatable {
    public var path: String
    public var every: Duration
    /// The Host the warm request carries (part of the key): the one clients send.
    /// Nil: the top-level `host`, else the upstream's authority.
    public var host: String?
    /// Sent with the warm request and keyed like a client's (identity, claims,
    /// `key.headers`), e.g. `Authorization: Bearer …` for an authenticated API.
    public var headers: [HeaderLine] = []
}

/// One request header line from the config.
public struct HeaderLine: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct AdminConfig: Sendable, Equatable {
    public var listen: ListenAddress
    public var token: String?
    public var refreshLimit: RateLimit

    /// The deploy examples' placeholder for a secret (deploy/kubernetes/secret.yaml): a
    /// value still starting with it was never replaced, and everyone who read the
    /// example knows it.
    static func isPlaceholder(_ value: String) -> Bool { value.uppercased().hasPrefix("REPLACE-ME") }

    /// A listener off loopback is reachable by others: its token must resist guessing.
    static let minimumTokenLength = 16

    /// Why `token` is too weak to guard a listener off loopback, or nil. Never quotes
    /// the token: config errors end up in logs.
    static func weakness(of token: String) -> String? {
        if token.allSatisfy(\.isWhitespace) { return "all whitespace" }
        if isPlaceholder(token) { return "the example's placeholder (REPLACE-ME…): set a long random one, e.g. openssl rand -hex 32" }
        if token.count < minimumTokenLength { return "shorter than \(minimumTokenLength) characters" }
        return nil
    }
}

public struct Limits: Sendable, Equatable {
    public var headerBytes: Int = 32 << 10
    public var urlBytes: Int = 8 << 10
    public var connections: Int = 10_000
    public var idleTimeout: Duration = .seconds(60)
    public var headerTimeout: Duration = .seconds(10)
    /// Request bodies and answers being filled, held in memory at once across connections.
    public var bodyMemory: Int = 64 << 20
}

public struct LogConfig: Sendable, Equatable {
    public enum Format: String, Sendable { case text, json }
    public var level: String = "info"
    public var format: Format = .text
    public var access: Bool = false
}

/// A config value's problem, in words for the operator.
struct Invalid: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
