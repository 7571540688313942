import Logging
import NIOCore
import NIOHTTP1
import SidecacheAuth
import SidecacheConfig
import SidecacheCore
import SidecacheLogging
import SidecacheMetrics
import SidecacheStore
import SidecacheUpstream
import Synchronization

/// One loaded config. Immutable: a reload swaps in a new one, and each exchange keeps
/// the one it started with, so a request never sees half of an old config and half of
/// a new one.
final class ProxySettings: Sendable {
    let config: Config
    /// 1 for the config the process started with, +1 per successful reload.
    let generation: Int
    /// Verifies tokens for `key.claims` routes with this config's keys (a reload
    /// re-reads the JWK Set and starts with no token remembered).
    let verifier: TokenVerifier?

    init(config: Config, generation: Int, verifier: TokenVerifier?) {
        self.config = config
        self.generation = generation
        self.verifier = verifier
    }

    convenience init(config: Config, generation: Int) {
        self.init(config: config, generation: generation, verifier: Self.verifier(for: config))
    }

    /// The verifier of `config`'s `auth.jwt`, its keys loading in the background (`ready()`).
    static func verifier(for config: Config) -> TokenVerifier? {
        config.jwt.map {
            TokenVerifier(rules: TokenRules(secret: $0.secret, keySet: $0.jwks?.json, issuer: $0.issuer, audience: $0.audience,
                                            leeway: $0.leeway))
        }
    }

    /// A private copy for one connection, so reading it retains nothing shared.
    func copy() -> ProxySettings { ProxySettings(config: config, generation: generation, verifier: verifier) }
}

/// What every connection shares: the compiled config, the cache and its purge
/// ledger, the upstream client and the clock. Decisions come from the core; the
/// engine only holds the parts they are carried out with.
final class ProxyEngine: Sendable {
    private let current: Mutex<ProxySettings>
    /// The generation of `current`, readable without the lock: request paths keep
    /// their own copy of the settings and only take the lock after a reload.
    private let published = Atomic<Int>(1)
    let metrics: ProxyMetrics
    let accessLog: AccessLog
    /// L1, its purge ledger and (when configured) the shared Redis tier, as one cache.
    let store: TieredStore
    /// One upstream fetch per key at a time.
    let fills = FillRegistry()
    /// Headers each route's upstream varies on, learned from answers.
    let vary = VaryMemory()
    /// "upstream failed" lines: a few a second, however many requests fail.
    let failureLog = LogBudget(perSecond: 10)
    /// Request bodies and fills held at once (`limits.bodyMemory`).
    let bodies = BodyMemory()
    /// Shadow verifications under way (`ShadowVerification.maxInFlight`).
    let verifications = Atomic<Int>(0)
    /// Background stale-while-revalidate refreshes under way across the process. Each
    /// holds an upstream connection (and a Redis lease): one client walking stale keys
    /// on one connection, which it can make by varying a query, started one per key,
    /// 4 000 at once against a slow upstream, a descriptor and a body each.
    let revalidations = Atomic<Int>(0)
    static let maxRevalidations = 64
    let upstream: UpstreamClient
    let clock: any WallClock
    let logger: Logger

    /// `accessLines` takes the access log's lines (by default, standard error).
    init(config: Config, upstream: UpstreamClient, store: TieredStore, clock: any WallClock, logger: Logger,
         metrics: ProxyMetrics, accessLines: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil) {
        self.current = Mutex(ProxySettings(config: config, generation: 1))
        self.metrics = metrics
        self.accessLog = AccessLog(enabled: config.log.access,
                                   lines: AccessLineWriter(format: config.log.format, sink: accessLines ?? StandardError.write))
        self.store = store
        self.upstream = upstream
        self.clock = clock
        self.logger = logger
        prepare(for: config)
    }

    /// Applies a purge: here before this returns, in Redis when the step completes
    /// (a mutation's answer waits for it). Paths are taken to the spelling entries are
    /// keyed under (see `PathSpelling`). `stale` scopes are soft-purged (`"mode": "stale"`).
    func purge(_ requested: [PurgeScope], stale: [PurgeScope] = [], reason: String, source: PurgeSource,
               on loop: any EventLoop) -> StoreStep<Void> {
        let removed = apply(requested, mode: .remove, reason: reason, source: source, on: loop)
        let staled = apply(stale, mode: .stale, reason: reason, source: source, on: loop)
        switch (removed, staled) {
        case (.now, .now): return .now(())
        case (.later(let done), .now), (.now, .later(let done)): return .later(done)
        case (.later(let a), .later(let b)): return .later(a.and(b).map { _ in })
        }
    }

    private func apply(_ requested: [PurgeScope], mode: PurgeMode, reason: String, source: PurgeSource,
                       on loop: any EventLoop) -> StoreStep<Void> {
        guard !requested.isEmpty else { return .now(()) }
        let routes = config.routes
        // A rule's target and the §4.4 invalidation often name the same path: once is enough.
        let scopes = requested.map(routes.canonical).uniqued()
        let targets = scopes.map { mode == .stale ? "stale " + $0.description : $0.description }
        metrics.purged(source: source, count: scopes.count)
        metrics.recentPurges.record(.init(source: source, targets: targets, reason: reason))
        logger.debug("purged", metadata: ["scopes": "\(targets.joined(separator: ", "))", "by": "\(reason)"])
        // From the scopes as requested: today's spelling only drops (case, `;`, a
        // trailing `/`), and an entry an exact route filled keeps them.
        let reach = requested.flatMap(\.spellings).uniqued()
        switch mode {
        case .remove: return store.purge(reach, on: loop)
        case .stale: return store.softPurge(reach, at: clock.now(), on: loop)
        }
    }

    /// The config in force now, under a lock: for the admin API, warming and reloads.
    /// The request path reads `settings(since:)` instead.
    var settings: ProxySettings { current.withLock { $0 } }

    /// `held` while no reload happened since it was taken (one atomic load, no lock,
    /// nothing shared written); else a private copy of the config now in force.
    func settings(since held: ProxySettings) -> ProxySettings {
        published.load(ordering: .acquiring) == held.generation ? held : settings.copy()
    }

    /// Shorthand for `settings.config`, for code that reads one value.
    var config: Config { settings.config }

    /// Swaps in a new config (routes, purge rules, TTLs, limits); the cache stays.
    /// Returns the new generation.
    @discardableResult
    func replace(config: Config, verifier: TokenVerifier?) -> Int {
        current.withLock { s in
            s = ProxySettings(config: config, generation: s.generation + 1, verifier: verifier)
            published.store(s.generation, ordering: .releasing)
            return s.generation
        }
    }

    /// stale-while-revalidate: refreshes `stale`, the entry for `head`, in the background,
    /// once (a fill already under way for the key does it instead). `body`: a POST read's.
    /// At most `maxRevalidations` at once: past them the stale answer goes out without
    /// one, and a later stale hit refreshes it.
    /// `client`: the address of the client whose request found `stale`; the refresh
    /// carries its headers, and so its `X-Forwarded-For` (the hop-by-hop audit's: the
    /// upstream saw the client's other headers and the proxy as the caller).
    func revalidate(head: HTTPRequestHead, body: ByteBuffer?, client: String?, replacing stale: CacheEntry, on loop: any EventLoop) {
        guard revalidations.wrappingAdd(1, ordering: .relaxed).newValue <= Self.maxRevalidations else {
            revalidations.wrappingSubtract(1, ordering: .relaxed)
            return
        }
        var request = HTTPRequestHead(version: .http1_1, method: head.method == .POST ? .POST : .GET, uri: head.uri, headers: head.headers)
        for name in ForwardHeaders.conditionals.names { request.headers.remove(name: name) }
        let capture = CapturedResponse(loop: loop, for: client) { [self] in revalidations.wrappingSubtract(1, ordering: .relaxed) }
        let exchange = Exchange(engine: self, settings: settings, connection: capture, head: request, body: body,
                                purpose: .refresh)
        exchange.replacing = stale
        exchange.start()
    }

    /// Fetches `path` on `host` from the upstream now, bypassing the cache, stores it
    /// if storable, and returns the answer (admin /refresh, warming).
    func refresh(path: String, host: String, headers: [HeaderLine] = [], on loop: any EventLoop) -> EventLoopFuture<RefreshResult> {
        var fields: HTTPHeaders = ["Host": host]
        for line in headers { fields.add(name: line.name, value: line.value) }
        let head = HTTPRequestHead(version: .http1_0, method: .GET, uri: path, headers: fields)
        let capture = CapturedResponse(loop: loop)
        loop.execute {
            Exchange(engine: self, settings: self.settings, connection: capture, head: head, body: nil, purpose: .refresh).start()
        }
        return capture.response.map(RefreshResult.init(raw:))
    }

    /// `upstream` alone, not the whole `Config`: a copy of that is some 600 instructions
    /// of retains and releases on every forwarded request.
    func upstreamRequest(_ upstream: UpstreamURL, method: String, uri: String, headers: [(name: String, value: String)],
                         body: ByteBuffer?, timeout: Duration) -> UpstreamRequest {
        let t = TimeAmount.milliseconds(timeout.milliseconds)
        // `OPTIONS *` is the one non-origin form that gets here (see Exchange.start).
        let asterisk = uri == "*"
        return UpstreamRequest(method: method, url: upstream.url(for: asterisk ? "/" : uri), headers: headers, body: body,
                               headTimeout: t, connectTimeout: min(t, .seconds(10)), idleBodyTimeout: t,
                               requestTarget: asterisk ? "*" : nil)
    }
}
