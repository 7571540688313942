/// Where the shared tier lives: `redis://[user:password@]host:port/db`, or `rediss://`
/// for TLS. Parsed by the config loader, used by the store; a plain value both can name.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int
    /// `rediss://`: every connection is TLS (`store.tls` says how).
    public var tls: Bool
    /// `redis+sentinel://`: `host`/`port` are not used; the master is asked of these.
    public var sentinel: Sentinel?
    /// `redis+cluster://`: the seed nodes the slot map is first asked of (`host`/`port`
    /// are the first one's).
    public var cluster: [Node]?

    /// A server's address in a URL that names several.
    public struct Node: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Sentinels to ask for the address of the master named `master`.
    public struct Sentinel: Sendable, Equatable {
        public var nodes: [Node]
        public var master: String

        public init(nodes: [Node], master: String) {
            self.nodes = nodes
            self.master = master
        }
    }

    public init(host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0,
                tls: Bool = false, sentinel: Sentinel? = nil, cluster: [Node]? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.sentinel = sentinel
        self.cluster = cluster
    }

    /// The same credentials and database at another address (a master a sentinel named,
    /// a node of a cluster).
    public func at(host: String, port: Int) -> RedisEndpoint {
        RedisEndpoint(host: host, port: port, user: user, password: password, database: database, tls: tls)
    }

    /// Never shows the password: this is what logs print.
    public var description: String {
        let auth = password == nil ? "" : "\(user ?? ""):***@"
        func address(_ host: String, _ port: Int) -> String { "\(host.contains(":") ? "[\(host)]" : host):\(port)" }
        if let cluster {
            return "\(tls ? "rediss" : "redis")+cluster://\(auth)\(cluster.map { address($0.host, $0.port) }.joined(separator: ","))"
        }
        if let sentinel {
            let nodes = sentinel.nodes.map { address($0.host, $0.port) }.joined(separator: ",")
            return "\(tls ? "rediss" : "redis")+sentinel://\(auth)\(nodes)/\(sentinel.master)/\(database)"
        }
        return "\(tls ? "rediss" : "redis")://\(auth)\(address(host, port))/\(database)"
    }
}

/// `store.tls`: how TLS connections to Redis are verified and authenticated. Paths of
/// PEM files; nil means the default (system CAs, no client certificate, SNI = host).
public struct RedisTLSSettings: Sendable, Equatable {
    public var ca: String?
    public var cert: String?
    public var key: String?
    public var serverName: String?
    /// False only when written so (logged as a warning at start).
    public var verify: Bool

    public init(ca: String? = nil, cert: String? = nil, key: String? = nil, serverName: String? = nil, verify: Bool = true) {
        self.ca = ca
        self.cert = cert
        self.key = key
        self.serverName = serverName
        self.verify = verify
    }
}

/// How L1 hits relate to purges made on other instances (`store.consistency`).
public enum Consistency: String, Sendable {
    /// Each L1 hit is confirmed against Redis's purge state (one small round trip).
    case strict
    /// L1 hits are served without asking; purges arrive by publish/subscribe.
    case fast
}
