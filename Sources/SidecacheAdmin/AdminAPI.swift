import Logging
import NIOCore
import NIOHTTP1
import SidecacheConfig
import SidecacheCore

/// The admin endpoints. `/healthz`, `/readyz` and `/metrics` are open (probes and
/// Prometheus); everything else needs `Authorization: Bearer <admin.token>` when a
/// token is configured (the loader allows no token only on a loopback listener).
public final class AdminAPI: Sendable {
    let backend: any AdminBackend
    let token: BearerToken?
    let limiter: RefreshLimiter
    let logger: Logger
    let started = ContinuousClock.now

    public init(backend: any AdminBackend, admin: AdminConfig, logger: Logger) {
        self.backend = backend
        self.token = admin.token.map(BearerToken.init)
        self.limiter = RefreshLimiter(limit: admin.refreshLimit)
        self.logger = logger
    }

    static let open: Set<String> = ["/healthz", "/readyz", "/metrics"]
    static let guarded: Set<String> = ["/", "/stats", "/purge", "/refresh"]
    /// How often the status page's history takes a sample.
    static let historyPeriod = Duration.seconds(10)

    func handle(_ request: AdminRequest, on loop: any EventLoop) async -> AdminResponse {
        let read = request.method == .GET || request.method == .HEAD
        if Self.open.contains(request.path) {
            guard read else { return Self.methodNotAllowed("GET") }
            switch request.path {
            case "/healthz": return .json(.object([("status", .string("ok"))]))
            case "/readyz": return readyz
            default: return metrics
            }
        }
        if let refusal = BrowserGuard.refusal(request.headers, changes: !read, tokenless: token == nil) {
            return .error(.forbidden, "forbidden", refusal)
        }
        let page = request.path == "/"
        if let token, !token.accepts(request.headers, basic: page) {
            // The page is for browsers: Basic makes them ask for the token (as the password).
            return .error(.unauthorized, "unauthorized", "this call needs Authorization: Bearer <admin.token>",
                          headers: [("WWW-Authenticate", page ? #"Basic realm="sidecache", charset="UTF-8""# : "Bearer")])
        }
        switch request.path {
        case "/": return read ? await statusPage(on: loop) : Self.methodNotAllowed("GET")
        case "/stats": return read ? await stats(on: loop) : Self.methodNotAllowed("GET")
        case "/purge": return request.method == .POST ? await purge(request, on: loop) : Self.methodNotAllowed("POST")
        case "/refresh": return request.method == .POST ? await refresh(request, on: loop) : Self.methodNotAllowed("POST")
        default:
            return .error(.notFound, "not_found", "no admin endpoint \(request.path) (try /, /healthz, /readyz, /metrics, /stats, /purge, /refresh)")
        }
    }

    static func methodNotAllowed(_ allowed: String) -> AdminResponse {
        .error(.methodNotAllowed, "method_not_allowed", "use \(allowed)", headers: [("Allow", allowed)])
    }

    /// DESIGN: `{"ready":true,"redis":{"configured":true,"connected":true,"breaker":"closed"},"config":3}`,
    /// plus `"l2"`: whether L2 is in use (`usable`), or why not (`purges-pending`,
    /// `epoch-unknown`, `breaker-open`), since a connected Redis can still be unusable; and Redis's
    /// `maxmemoryPolicy`, with a `warning` when it is `allkeys-*`.
    /// Redis trouble does not make the proxy unready (it answers from L1 or the upstream);
    /// only a listener that is not bound yet, or draining, does.
    var readyz: AdminResponse {
        let ready = backend.isServing
        let status = backend.sharedStatus
        var redis: [(String, JSONText)] = [("configured", .bool(status != nil))]
        if let status {
            redis += [("connected", .bool(status.connected)), ("breaker", .string(status.breaker)), ("l2", .string(status.l2))]
            if let policy = status.memoryPolicy {
                redis += [("maxmemoryPolicy", .string(policy))]
                if status.evictsPurgeState { redis += [("warning", .string("maxmemory-policy \(policy) may evict purge counters: use volatile-lru or noeviction"))] }
            }
        }
        let body = JSONText.object([("ready", .bool(ready)), ("redis", .object(redis)), ("config", .int(backend.configInForce.generation))])
        return .json(body, status: ready ? .ok : .serviceUnavailable)
    }

    var metrics: AdminResponse {
        let memory = backend.memoryUsage
        let text = backend.metrics.scrape(l1Entries: memory.entries, l1Bytes: memory.bytes,
                                          redisUp: backend.sharedStatus?.connected)
        return .text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }
}
