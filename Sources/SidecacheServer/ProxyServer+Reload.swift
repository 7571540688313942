import Logging
import SidecacheConfig

/// What a reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new config is in force as `generation`. `needsRestart` names the changed keys
    /// a running process cannot take over (they keep their old values until a restart).
    case applied(generation: Int, needsRestart: [String])
    /// The file was not valid; the running config stays. Every problem, as logged.
    case rejected(problems: [String])
}

extension ProxyServer {
    /// SIGHUP: re-reads `path` with the same loader and environment as at start.
    public func reload(from path: String, environment: [String: String]) async -> ReloadOutcome {
        let config: Config
        do {
            config = try ConfigLoader.load(file: path, environment: environment)
        } catch {
            let problems = error.problems.map(\.description)
            logger.error("reload rejected: the running config stays", metadata: [
                "file": "\(path)", "problems": .array(problems.map { .string($0) }),
            ])
            for problem in problems { logger.error("reload: \(problem)") }
            return .rejected(problems: problems)
        }
        return await reload(config: config)
    }

    /// Swaps in `config`: routes, purge rules, TTLs, limits, the upstream, warming and the
    /// access log switch change at once for every new request (requests under way finish
    /// under the config they started with). Connections and the cache stay. The new JWK
    /// Set is loaded first: one that cannot be (a key jwt-kit refuses) is refused as at
    /// start, and the running config stays, instead of every token failing from then on.
    public func reload(config: Config) async -> ReloadOutcome {
        let verifier = ProxySettings.verifier(for: config)
        do {
            try await verifier?.ready()
        } catch {
            let problems = ["\(error)"]
            logger.error("reload rejected: the running config stays", metadata: ["problems": .array(problems.map { .string($0) })])
            return .rejected(problems: problems)
        }
        return reloadLock.withLock { _ in
            let running = engine.config
            let (config, fixed) = Self.applicable(config, running: running)
            // Stats for new route names exist before any request can name them.
            engine.prepare(for: config)
            let generation = engine.replace(config: config, verifier: verifier)
            warmer.run(config.warm)
            var metadata: Logger.Metadata = [
                "config": "\(generation)", "routes": "\(config.routes.routes.count)", "purgeRules": "\(config.purge.count)",
                "warm": "\(config.warm.count)",
            ]
            if !fixed.isEmpty { metadata["needsRestart"] = "\(fixed.joined(separator: ", "))" }
            logger.notice("config reloaded", metadata: metadata)
            if !fixed.isEmpty {
                logger.warning("changed keys that only a restart applies: the running values stay",
                               metadata: ["keys": "\(fixed.joined(separator: ", "))"])
            }
            return .applied(generation: generation, needsRestart: fixed)
        }
    }

    /// `new` as it takes effect now, and the keys only a restart applies that it
    /// changes: those keep their running values, so the engine's config says what is
    /// in force and the next reload compares with that. Compared with the last file
    /// instead, a second reload reported an admin token that never took effect as
    /// applied, and said nothing of the old one still in force.
    static func applicable(_ new: Config, running: Config) -> (config: Config, needsRestart: [String]) {
        var config = new
        var changed: [String] = []
        for key in RestartOnlyKey.all where key.differs(running, new) {
            changed.append(key.name)
            key.keep(&config, running)
        }
        return (config, changed)
    }
}

/// A key bound at start (sockets, stores, threads, the logging bootstrap): one list
/// says which keys a reload reports and which it leaves at their running values.
struct RestartOnlyKey {
    let name: String
    let differs: (Config, Config) -> Bool
    let keep: (inout Config, Config) -> Void

    init<Value: Equatable>(_ name: String, _ path: WritableKeyPath<Config, Value>) {
        self.name = name
        differs = { $0[keyPath: path] != $1[keyPath: path] }
        keep = { $0[keyPath: path] = $1[keyPath: path] }
    }

    static var all: [RestartOnlyKey] {
        [.init("listen", \.listen), .init("store", \.store), .init("admin", \.admin), .init("threads", \.threads),
         .init("log.level", \.log.level), .init("log.format", \.log.format)]
    }
}
