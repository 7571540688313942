import SidecacheCore

/// What the tiered store is built from, in the store's own terms: the composition
/// root maps the loaded config onto it, so the store never depends on the config format.
public struct StoreOptions: Sendable {
    /// L1 byte budget; 0 turns the memory tier off.
    public var memoryBytes: Int
    /// The shared tier, if any.
    public var shared: SharedTierOptions?

    public init(memoryBytes: Int, shared: SharedTierOptions? = nil) {
        self.memoryBytes = memoryBytes
        self.shared = shared
    }
}

/// The Redis tier: where it is and how it is used.
public struct SharedTierOptions: Sendable {
    public var endpoint: RedisEndpoint
    public var consistency: Consistency
    /// Namespace of every key.
    public var prefix: String
    /// One command; past it the command counts as failed.
    public var timeout: Duration
    /// Strict: how long after Redis last vouched for an L1 entry it may still be served
    /// while Redis cannot be asked.
    public var outageGrace: Duration
    /// For `rediss://` endpoints.
    public var tls: RedisTLS?
    /// `store.signingKey`: entries are signed with it and read only when signed with it.
    public var signingKey: String?

    public init(endpoint: RedisEndpoint, consistency: Consistency = .strict, prefix: String = "sidecache:",
                timeout: Duration = .milliseconds(50), outageGrace: Duration = .seconds(2), tls: RedisTLS? = nil,
                signingKey: String? = nil) {
        self.endpoint = endpoint
        self.tls = tls
        self.consistency = consistency
        self.prefix = prefix
        self.timeout = timeout
        self.outageGrace = outageGrace
        self.signingKey = signingKey
    }
}
