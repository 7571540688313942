/// Where the shared tier lives: `redis://[user:password@]host:port/db`. Parsed by the
/// config loader, used by the store; a plain value both can name.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int

    public init(host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// Never shows the password: this is what logs print.
    public var description: String {
        let auth = password == nil ? "" : "\(user ?? ""):***@"
        return "redis://\(auth)\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }
}

/// How L1 hits relate to purges made on other instances (`store.consistency`).
public enum Consistency: String, Sendable {
    /// Each L1 hit is confirmed against Redis's purge state (one small round trip).
    case strict
    /// L1 hits are served without asking; purges arrive by publish/subscribe.
    case fast
}
