import SidecacheCore

/// The Redis key schema, all under the configured prefix. Keys never hold anything in
/// clear: entries are named by the key digest, counters by the scope id.
struct RedisKeys: Sendable {
    let prefix: String

    func entry(_ key: CacheKey) -> String { prefix + "e:" + key.description }
    var epoch: String { prefix + "epoch" }
    func generation(_ scope: UInt64) -> String { prefix + "g:" + hex(scope) }
    var channel: String { prefix + "purge" }
    /// Bumped by every purge after its counters: a cheap "has anything been purged?" probe.
    var sequence: String { prefix + "seq" }
}

func hex(_ n: UInt64) -> String {
    let s = String(n, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
