import ArgumentParser
import Foundation
import SidecacheConfig
import SidecacheCore

/// `sidecache check`: validate, print the compiled tables, exit 0 or 1.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate the config and print the compiled route and purge tables.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try loadConfig(options.config)
        print(ConfigReport(config).text)
    }
}

/// Loads the config with the process environment, or prints every problem and exits 1.
func loadConfig(_ path: String) throws -> Config {
    do {
        return try ConfigLoader.load(file: path, environment: ProcessInfo.processInfo.environment)
    } catch {
        FileHandle.standardError.write(Data("sidecache: invalid config \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// The compiled config, as an operator wants to read it.
struct ConfigReport {
    let text: String

    init(_ config: Config) {
        var out = "listen   \(config.listen)\nupstream \(config.upstream)\n"
        out += "store    memory \(config.store.memoryBytes) bytes"
        if config.store.redis != nil { out += ", redis (\(config.store.consistency.rawValue))" }
        out += "\n\nroutes (tried in order):\n"
        let rows = config.routes.routes.map { r -> [String] in
            var key = ["path"]
            switch r.query {
            case .all: key.append("query")
            case .none: break
            case .only(let names): key.append("query[\(names.joined(separator: ","))]")
            }
            if !r.keyHeaders.isEmpty { key.append("headers[\(r.keyHeaders.joined(separator: ","))]") }
            if let id = r.identity { key.append("identity(\(id))") }
            if let claims = r.claims { key.append("claims[\(claims.names.joined(separator: ","))] from \(claims.from)") }
            var flags: [String] = []
            if r.shared { flags.append("shared") }
            if r.override { flags.append("override") }
            return [r.name, r.pattern.description, "ttl \(r.ttl)", "key " + key.joined(separator: "+"), flags.joined(separator: ",")]
        }
        out += Self.table(rows)
        out += "\npurge rules:\n"
        out += Self.table(config.purge.map { rule in [rule.on.description, "->", rule.targets.map(\.description).joined(separator: ", ")] })
        if !config.warm.isEmpty {
            out += "\nwarm:\n" + Self.table(config.warm.map { [$0.path, "every \(formatDuration($0.every))"] })
        }
        if let jwt = config.jwt {
            var keys: [String] = []
            if jwt.secret != nil { keys.append("secret (HS*)") }
            if let set = jwt.jwks { keys.append("jwks \(set.path)") }
            out += "\nauth.jwt from \(jwt.from): \(keys.joined(separator: ", "))"
            if let issuer = jwt.issuer { out += ", issuer \(issuer)" }
            if let audience = jwt.audience { out += ", audience \(audience)" }
            out += ", leeway \(formatDuration(jwt.leeway))\n"
        }
        let shared = config.routes.routes.filter(\.shared)
        if !shared.isEmpty {
            out += "\n" + shared.map { r in
                "warning: route \(r.name) is shared: requests with and without credentials get the same answers, "
                    + "so an anonymous client gets what an authenticated one fetched (use key.identity or key.claims if answers depend on the caller)"
            }.joined(separator: "\n") + "\n"
        }
        if let admin = config.admin { out += "\nadmin    \(admin.listen)\(admin.token == nil ? " (no token)" : " (token set)")\n" }
        text = out
    }

    private static func table(_ rows: [[String]]) -> String {
        guard let width = rows.first?.count else { return "  (none)\n" }
        let widths = (0..<width).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }
}
