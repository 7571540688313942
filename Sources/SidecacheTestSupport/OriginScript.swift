/// One scripted route of a `ScriptedOrigin`, and the rule for picking among several.
struct OriginScript: Sendable {
    /// nil answers any method.
    var method: String?
    /// An exact path, or a prefix when it ends with "*".
    var pattern: String
    /// Registration order; later wins ties.
    var order: Int
    var responder: @Sendable (OriginRequest) async -> OriginResponse

    private var prefix: Substring? {
        pattern.hasSuffix("*") ? pattern.dropLast() : nil
    }

    /// How well this script's method fits: 2 named, 1 a GET script answering HEAD (as any
    /// origin would), 0 any method; nil when it does not fit.
    private func methodFit(_ method: String) -> Int? {
        switch self.method {
        case nil: return 0
        case method: return 2
        case "GET" where method == "HEAD": return 1
        default: return nil
        }
    }

    private func pathMatches(_ path: String) -> Bool {
        if let prefix { return path.hasPrefix(prefix) }
        return path == pattern
    }

    /// Higher is more specific: an exact path beats any prefix, a longer prefix beats a
    /// shorter one, then the method fit, and a later registration beats an earlier one.
    private func rank(method: String, path: String) -> (Int, Int, Int, Int)? {
        guard pathMatches(path), let fit = methodFit(method) else { return nil }
        return (prefix == nil ? 1 : 0, prefix?.count ?? 0, fit, order)
    }

    /// The script that answers `method` `path`, if any.
    static func select(_ scripts: [OriginScript], method: String, path: String) -> OriginScript? {
        scripts
            .compactMap { script in script.rank(method: method, path: path).map { (script, $0) } }
            .max { $0.1 < $1.1 }?
            .0
    }
}
