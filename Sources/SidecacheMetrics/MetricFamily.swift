/// One Prometheus metric family that /metrics exports: its name, type, help text and
/// label names, written here and nowhere else. The export takes every name, help text
/// and label name from these values; tests check the README's metrics table and the
/// Grafana dashboard against `all`, so a renamed metric cannot leave either behind.
struct MetricFamily: Sendable, Hashable {
    enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    let name: String
    let kind: Kind
    let help: String
    let labelNames: [String]

    /// `values` paired with `labelNames`, in order; a count mismatch is a programming error.
    func labels(_ values: [String]) -> [(String, String)] {
        precondition(values.count == labelNames.count, "\(name) has labels \(labelNames), got \(values.count) values")
        return Array(zip(labelNames, values))
    }

    static let requests = MetricFamily(
        name: "sidecache_requests_total", kind: .counter,
        help: "Finished requests by route and cache status (route=\"\": no cache route matched).",
        labelNames: ["route", "cache"])
    static let bypass = MetricFamily(
        name: "sidecache_bypass_total", kind: .counter,
        help: "Requests on a cache route that bypassed the cache, by reason.",
        labelNames: ["route", "reason"])
    static let coalesced = MetricFamily(
        name: "sidecache_coalesced_total", kind: .counter,
        help: "Requests that waited for another request's fill (here or, with Redis, on another instance) instead of fetching.",
        labelNames: ["route"])
    static let purges = MetricFamily(
        name: "sidecache_purges_total", kind: .counter,
        help: "Purge targets (a path, subtree, route or tag), by where the purge came from.",
        labelNames: ["source"])
    static let upstreamDuration = MetricFamily(
        name: "sidecache_upstream_duration_seconds", kind: .histogram,
        help: "Time from sending a request upstream to the upstream's response head.",
        labelNames: ["route"])
    static let upstreamErrors = MetricFamily(
        name: "sidecache_upstream_errors_total", kind: .counter,
        help: "Upstream requests that failed, by kind of failure.",
        labelNames: ["route", "kind"])
    static let storeErrors = MetricFamily(
        name: "sidecache_store_errors_total", kind: .counter,
        help: "Cache store operations that failed (each became a cache bypass).",
        labelNames: ["store"])
    static let verifyMismatches = MetricFamily(
        name: "sidecache_verify_mismatches_total", kind: .counter,
        help: "Hits re-fetched by shadow verification whose answer differed from the entry (the entry was dropped).",
        labelNames: ["route"])
    static let signatureFailures = MetricFamily(
        name: "sidecache_signature_failures_total", kind: .counter,
        help: "Entries read from Redis without store.signingKey's signature (each was a miss).",
        labelNames: [])
    static let l1Entries = MetricFamily(
        name: "sidecache_l1_entries", kind: .gauge,
        help: "Entries in this instance's memory store.",
        labelNames: [])
    static let l1Bytes = MetricFamily(
        name: "sidecache_l1_bytes", kind: .gauge,
        help: "Bytes held by this instance's memory store.",
        labelNames: [])
    static let redisUp = MetricFamily(
        name: "sidecache_redis_up", kind: .gauge,
        help: "1 while the Redis tier is connected, 0 while not (absent without store.redis).",
        labelNames: [])

    /// Every family /metrics can export.
    static let all: [MetricFamily] = [requests, bypass, coalesced, purges, upstreamDuration, upstreamErrors,
                                      storeErrors, signatureFailures, verifyMismatches, l1Entries, l1Bytes, redisUp]
}
