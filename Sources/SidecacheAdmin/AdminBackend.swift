import NIOCore
import SidecacheConfig
import SidecacheCore
import SidecacheMetrics
import SidecacheStore

/// What the admin API needs from the proxy it serves, and nothing more: readiness, the
/// config in force, the store's state, purges, refreshes and the figures. The server's
/// composition root implements it; this target never sees the engine, so the engine can
/// change without the admin API noticing, and the endpoints can be tested against a
/// stand-in.
public protocol AdminBackend: Sendable {
    /// False until the proxy listener is bound, and again from the moment a drain starts.
    var isServing: Bool { get }
    /// The config in force and its generation (1 at start, +1 per applied reload), read together.
    var configInForce: (config: Config, generation: Int) { get }
    /// What the proxy counted, for /metrics and /stats.
    var metrics: ProxyMetrics { get }
    /// This instance's memory tier: entries, bytes held, and its byte bound.
    var memoryUsage: (entries: Int, bytes: Int, capacityBytes: Int) { get }
    /// The Redis tier's state; nil without `store.redis`.
    var sharedStatus: SharedTierStatus? { get }
    /// Redis' key count and memory (`INFO`); nil without Redis or when it did not answer.
    func sharedInfo(on loop: any EventLoop) async -> SharedTierInfo?
    /// `by` hits (-1: one taken back) on the fixed window `key` in Redis, which every
    /// instance shares; nil without Redis or when it cannot answer (the caller then counts locally).
    func sharedRateLimitHit(key: String, window: Duration, by: Int, on loop: any EventLoop) async -> (count: Int, remainingMs: Int)?
    /// Memory-tier entries servable now that `scopes` cover (paths taken to their stored spelling).
    func coveredEntries(_ scopes: [PurgeScope]) -> Int
    /// Applies `scopes` as an admin purge from `caller` (`.stale`: a soft purge); returns
    /// once it is in the ledger and in Redis (or journaled while Redis is away).
    func purge(_ scopes: [PurgeScope], mode: PurgeMode, caller: String, on loop: any EventLoop) async
    /// Fetches `path` on `host` (with `headers`, keyed like a client's) from the upstream
    /// now, bypassing the cache, stores it if storable, and returns the answer as the
    /// proxy wrote it.
    func refresh(path: String, host: String, headers: [HeaderLine], on loop: any EventLoop) async throws -> RefreshedAnswer
}
