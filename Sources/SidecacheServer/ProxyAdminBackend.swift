import NIOCore
import SidecacheAdmin
import SidecacheConfig
import SidecacheCore
import SidecacheMetrics
import SidecacheStore

/// The admin API's view of this proxy: the engine and the readiness flag behind
/// `AdminBackend`, so SidecacheAdmin never reaches into the engine.
struct ProxyAdminBackend: AdminBackend {
    let engine: ProxyEngine
    let readiness: Readiness

    var isServing: Bool { readiness.isServing }

    var configInForce: (config: Config, generation: Int) {
        let settings = engine.settings
        return (settings.config, settings.generation)
    }

    var metrics: ProxyMetrics { engine.metrics }

    var memoryUsage: (entries: Int, bytes: Int, capacityBytes: Int) {
        let memory = engine.store.memory
        return (memory.entryCount, memory.usedBytes, memory.capacityBytes)
    }

    var sharedStatus: SharedTierStatus? { engine.store.sharedStatus }

    func sharedInfo(on loop: any EventLoop) async -> SharedTierInfo? {
        try? await engine.store.sharedInfo(on: loop)?.get()
    }

    func sharedRateLimitHit(key: String, window: Duration, by: Int, on loop: any EventLoop) async -> (count: Int, remainingMs: Int)? {
        try? await engine.store.sharedRateLimitHit(key: key, window: window, by: by, on: loop)?.get()
    }

    /// O(n) over the memory tier: admin only.
    func coveredEntries(_ scopes: [PurgeScope]) -> Int {
        let reach = scopes.flatMap(\.spellings)
        let ids = Set(reach.map(\.id))
        let everything = reach.contains(.all)
        let now = engine.clock.now()
        return engine.store.memory.entries().count { entry in
            entry.timing.expiresAt > now && engine.store.ledger.isValid(entry)
                && (everything || entry.scopeIDs.contains(where: ids.contains))
        }
    }

    func purge(_ scopes: [PurgeScope], mode: PurgeMode, caller: String, on loop: any EventLoop) async {
        let purge = mode == .stale ? engine.purge([], stale: scopes, reason: "admin from \(caller)", source: .admin, on: loop)
            : engine.purge(scopes, reason: "admin from \(caller)", source: .admin, on: loop)
        if case .later(let shared) = purge {
            try? await shared.get()   // never fails: journaled when Redis is away
        }
    }

    func refresh(path: String, host: String, headers: [HeaderLine], on loop: any EventLoop) async throws -> RefreshedAnswer {
        let result = try await engine.refresh(path: path, host: host, headers: headers, on: loop).get()
        return RefreshedAnswer(status: result.status, headers: result.headers, body: result.body)
    }
}
