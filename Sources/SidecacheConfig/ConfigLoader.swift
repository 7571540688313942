#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SidecacheCore

/// Reads proxy.json, then parses, then validates, reporting every problem at once.
/// The environment is an argument: only the executable reads the process environment.
public enum ConfigLoader {
    /// Environment variables that override a key of the file.
    public static let overrides = ["SIDECACHE_LISTEN": "listen", "SIDECACHE_UPSTREAM": "upstream", "REDIS_URL": "store.redis"]

    public static func load(file: String, environment: [String: String]) throws(ConfigError) -> Config {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", message: "cannot read the file (\(error))")])
        }
        do {
            return try parse(data, environment: environment)
        } catch {
            throw ConfigError(file: file, problems: error.problems)
        }
    }

    public static func parse(_ data: Data, environment: [String: String]) throws(ConfigError) -> Config {
        // RFC 8259 §8.1. Foundation also reads UTF-16 and UTF-32 (a NUL beside every
        // ASCII byte), which the duplicate check below, reading UTF-8, would not see into.
        guard !data.contains(0), String(validating: data, as: UTF8.self) != nil else {
            throw ConfigError(problems: [ConfigProblem(path: "", message: "not UTF-8 text (JSON config must be UTF-8; save it as UTF-8)")])
        }
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw ConfigError(problems: [ConfigProblem(path: "", message: "not valid JSON (\(describe(error)))")])
        }
        let twice = DuplicateMembers.paths(in: Array(data))
        guard twice.isEmpty else {
            throw ConfigError(problems: twice.map { ConfigProblem(path: $0, message: "is given twice in its object (JSON would keep one of them)") })
        }
        let reader = ConfigReader(environment: environment)
        let config = build(Node(value: document, path: "", reader: reader))
        guard reader.problems.isEmpty, let config else { throw ConfigError(problems: reader.problems) }
        return config
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        }
        return "\(error)"
    }

    private static func build(_ root: Node) -> Config? {
        guard var top = root.object(allowing: ConfigKeys.top) else { return nil }
        let env = root.reader.environment
        for (variable, key) in overrides where key != "store.redis" {
            if let value = env[variable], !value.isEmpty { top[key] = Node(value: .string(value), path: variable, reader: root.reader) }
        }
        _ = top["$schema"]?.string()

        let listen = address(top["listen"], default: ListenAddress(host: "0.0.0.0", port: 8080))
        let upstream = upstreamURL(top["upstream"], root)
        let store = storeConfig(top["store"], root)
        let (policy, ttl) = routePolicy(top["defaults"], base: RoutePolicy(), baseTTL: .fixed(.seconds(60)), allowTTL: true)
        let jwt = jwtConfig(top["auth"])
        let host: String?? = top["host"].map(hostValue) ?? .some(nil)
        let (routes, declared) = self.routes(top["routes"], defaults: policy, defaultTTL: ttl ?? .fixed(.seconds(60)), jwt: jwt)
        let purge = purgeRules(top["purge"], routeNames: declared)
        let warm = warmTargets(top["warm"], routes: RouteTable(routes ?? []), routeProblems: routes == nil,
                               basePath: upstream?.basePath ?? "")
        let admin = top["admin"].flatMap(adminConfig)
        let limits = self.limits(top["limits"])
        let threads = top["threads"]?.int(atLeast: 1, atMost: 1024)
        let log = logConfig(top["log"])

        if let listen, let adminListen = admin?.listen, listen.overlaps(adminListen) {
            // `check` passed it, and `run` then died binding the second listener.
            root.reader.report("admin.listen", "\(adminListen) is where the proxy listens (listen: \(listen)): give the admin listener its own port")
            return nil
        }
        guard let listen, let upstream, let store, let routes, let purge, let warm, let limits, let log else { return nil }
        if top["auth"] != nil && jwt == nil { return nil }
        guard let host else { return nil }
        return Config(listen: listen, upstream: upstream, store: store, defaults: policy, defaultTTL: ttl ?? .fixed(.seconds(60)),
                      routes: RouteTable(routes), purge: purge, warm: warm, admin: admin, limits: limits,
                      threads: threads, log: log, jwt: jwt, host: host)
    }

    static func address(_ node: Node?, default fallback: ListenAddress?) -> ListenAddress? {
        guard let node else { return fallback }
        guard let text = node.string() else { return nil }
        guard let address = ListenAddress.parse(text) else {
            node.report("\"\(text)\" is not host:port (e.g. 0.0.0.0:8080, 127.0.0.1:9090, [::1]:8080)")
            return nil
        }
        return address
    }

    private static func upstreamURL(_ node: Node?, _ root: Node) -> UpstreamURL? {
        guard let node else {
            root.reader.report("upstream", "required: the API to put the cache in front of, e.g. \"http://127.0.0.1:3000\"")
            return nil
        }
        guard let text = node.string() else { return nil }
        switch UpstreamURL.parse(text) {
        case .success(let url): return url
        case .failure(let invalid):
            node.report(invalid.message)
            return nil
        }
    }

    private static func storeConfig(_ node: Node?, _ root: Node) -> StoreConfig? {
        var store = StoreConfig(memoryBytes: 256 << 20, redis: nil, consistency: .strict, prefix: "sidecache:", timeout: .milliseconds(50))
        var fields: [String: Node] = [:]
        if let node {
            guard let f = node.object(allowing: ConfigKeys.store) else { return nil }
            fields = f
        }
        if let value = root.reader.environment["REDIS_URL"], !value.isEmpty {
            fields["redis"] = Node(value: .string(value), path: "REDIS_URL", reader: root.reader)
        }
        var ok = true
        if let n = fields["memory"] { if let v = n.size() { store.memoryBytes = v } else { ok = false } }
        if let n = fields["redis"] {
            if let text = n.string() {
                if !text.isEmpty {
                    switch RedisEndpoint.parse(text) {
                    case .success(let endpoint) where endpoint.password.map(AdminConfig.isPlaceholder) == true:
                        n.report("its password is the example's placeholder (REPLACE-ME…): set a long random one")
                        ok = false
                    case .success(let endpoint): store.redis = endpoint
                    case .failure(let invalid):
                        n.report(invalid.message)
                        ok = false
                    }
                }
            } else { ok = false }
        }
        if let n = fields["consistency"] {
            if let text = n.string(), let c = Consistency(rawValue: text) { store.consistency = c } else {
                n.report("must be \"strict\" or \"fast\"")
                ok = false
            }
        }
        if let n = fields["prefix"] { if let v = n.string() { store.prefix = v } else { ok = false } }
        if let n = fields["prefix"], store.redis?.cluster != nil, store.prefix.contains("{") || store.prefix.contains("}") {
            n.report("must not contain { or } with Redis Cluster (a hash tag there would put every key on one node)")
            ok = false
        }
        if let n = fields["timeout"] {
            if let v = n.duration(), v > .zero { store.timeout = v } else {
                if n.reader.problems.last?.path != n.path { n.report("must be more than 0") }
                ok = false
            }
        }
        if let n = fields["outageGrace"] { if let v = n.duration() { store.outageGrace = v } else { ok = false } }
        // Without Redis an empty key is none, and `tls` applies to nothing: one proxy.json
        // with `"${REDIS_URL:-}"` and `"${SIGNING_KEY:-}"` serves memory-only runs too.
        // With Redis an empty key stays an error: a secret left empty must not turn
        // signing off unnoticed.
        if let n = fields["signingKey"], let key = n.string() {
            if key.isEmpty && store.redis == nil {
                store.signingKey = nil
            } else if store.redis == nil {
                n.report("needs store.redis: only entries in Redis are signed")
                ok = false
            } else if AdminConfig.isPlaceholder(key) {
                n.report("is the example's placeholder (REPLACE-ME…): set a long random key, e.g. openssl rand -hex 32")
                ok = false
            } else if key.utf8.count < EntrySigner.minimumKeyBytes {
                n.report("too short: an HMAC-SHA256 key needs at least \(EntrySigner.minimumKeyBytes) bytes")
                ok = false
            } else {
                store.signingKey = key
            }
        } else if fields["signingKey"] != nil {
            ok = false
        }
        if let n = fields["tls"] {
            if let tls = tlsSettings(n) {
                store.tls = tls
                if let redis = store.redis, !redis.tls {
                    n.report("applies to rediss:// only: store.redis is not a TLS URL")
                    ok = false
                }
            } else { ok = false }
        }
        return ok ? store : nil
    }

    /// `store.tls`: the files must be readable (their content is checked when the store starts).
    private static func tlsSettings(_ node: Node) -> RedisTLSSettings? {
        guard let f = node.object(allowing: ConfigKeys.storeTLS) else { return nil }
        let before = node.reader.problems.count
        var tls = RedisTLSSettings()
        func file(_ key: String) -> String? {
            guard let n = f[key], let path = n.string() else { return nil }
            if !FileManager.default.isReadableFile(atPath: path) { n.report("cannot read \(path)") }
            return path
        }
        tls.ca = file("ca")
        tls.cert = file("cert")
        tls.key = file("key")
        if (tls.cert == nil) != (tls.key == nil), node.reader.problems.count == before {
            node.report("cert and key go together (a client certificate and its private key)")
        }
        if let n = f["serverName"], let name = n.string() {
            if name.isEmpty || !isSafeFieldValue(name) || name.contains(" ") { n.report("not a host name") } else { tls.serverName = name }
        }
        if let n = f["verify"], let v = n.bool() { tls.verify = v }
        return node.reader.problems.count == before ? tls : nil
    }

    private static func adminConfig(_ node: Node) -> AdminConfig? {
        guard let f = node.object(allowing: ConfigKeys.admin) else { return nil }
        let listen = address(f["listen"], default: ListenAddress(host: "127.0.0.1", port: 9090))
        var token = f["token"].map { $0.string() } ?? .some(nil)
        if token == "" { token = .some(nil) }
        var limit = RateLimit(count: 1, period: .seconds(3600))
        if let n = f["refreshLimit"] {
            if let text = n.string() {
                if let l = RateLimit.parse(text) { limit = l } else { n.report("\"\(text)\" is not a rate (use N/period, e.g. 1/1h)") }
            }
        }
        guard let listen, let tokenValue = token else { return nil }
        if !listen.isLoopback && tokenValue == nil {
            node.child("listen", .null).report("the admin listener on \(listen) is not on loopback and has no token: set admin.token (e.g. \"${SIDECACHE_ADMIN_TOKEN}\") or listen on 127.0.0.1")
            return nil
        }
        if !listen.isLoopback, let tokenValue, let weakness = AdminConfig.weakness(of: tokenValue), let n = f["token"] {
            n.report("too weak (\(weakness)): the admin listener on \(listen) is not on loopback, so its token needs at least \(AdminConfig.minimumTokenLength) characters, not all whitespace")
            return nil
        }
        return AdminConfig(listen: listen, token: tokenValue, refreshLimit: limit)
    }

    private static func limits(_ node: Node?) -> Limits? {
        var limits = Limits()
        guard let node else { return limits }
        guard let f = node.object(allowing: ConfigKeys.limits) else { return nil }
        let before = node.reader.problems.count
        // A zero limit refuses every request (414, 431) or cuts every connection at once,
        // the admin listener's too: a typo, never a setting.
        if let n = f["headerBytes"], let v = n.size() { if v > 0 { limits.headerBytes = v } else { n.report("must be more than 0") } }
        if let n = f["urlBytes"], let v = n.size() { if v > 0 { limits.urlBytes = v } else { n.report("must be more than 0") } }
        if let v = f["connections"]?.int(atLeast: 1) { limits.connections = v }
        if let n = f["bodyMemory"], let v = n.size() { if v > 0 { limits.bodyMemory = v } else { n.report("must be more than 0") } }
        if let n = f["idleTimeout"], let v = n.duration() { if v > .zero { limits.idleTimeout = v } else { n.report("must be more than 0") } }
        if let n = f["headerTimeout"], let v = n.duration() { if v > .zero { limits.headerTimeout = v } else { n.report("must be more than 0") } }
        return node.reader.problems.count == before ? limits : nil
    }

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    private static func logConfig(_ node: Node?) -> LogConfig? {
        var log = LogConfig()
        guard let node else { return log }
        guard let f = node.object(allowing: ConfigKeys.log) else { return nil }
        let before = node.reader.problems.count
        if let n = f["level"], let v = n.string() {
            if logLevels.contains(v) { log.level = v } else { n.report("must be one of \(logLevels.joined(separator: ", "))") }
        }
        if let n = f["format"], let v = n.string() {
            if let format = LogConfig.Format(rawValue: v) { log.format = format } else { n.report("must be \"text\" or \"json\"") }
        }
        if let v = f["access"]?.bool() { log.access = v }
        return node.reader.problems.count == before ? log : nil
    }
}
