/// One `purge` rule: when a matching mutation succeeds, these targets go.
public struct PurgeRule: Sendable, Equatable {
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case path(PathTemplate)
        case route(String)
        /// A tag, of `Surrogate-Key` or of a route's `tags`.
        case tag(TagTemplate)

        public var description: String {
            switch self {
            case .path(let t): t.source
            case .route(let r): "route " + r
            case .tag(let t): "tag " + t.source
            }
        }
    }

    public var on: RequestPattern
    public var targets: [Target]
    /// `"mode": "stale"`: the targets' entries become stale instead of gone.
    public var mode: PurgeMode

    public init(on: RequestPattern, targets: [Target], mode: PurgeMode = .remove) {
        self.on = on
        self.targets = targets
        self.mode = mode
    }

    public var readsBody: Bool { !bodyPaths.isEmpty }

    /// The members of the JSON body the rule's targets read.
    public var bodyPaths: [[String]] {
        targets.flatMap { target -> [[String]] in
            switch target {
            case .path(let t): t.bodyPaths
            case .tag(let t): t.bodyPaths
            case .route: []
            }
        }
    }
}

/// What a purge does to the entries it covers.
public enum PurgeMode: String, Sendable, Equatable {
    /// Gone: never served again.
    case remove
    /// Soft purge: stale from now, served within their stale windows while one refresh
    /// runs, like expired entries (DESIGN "Beyond purge rules").
    case stale
}

/// What a mutation purges once it succeeds, decided before it is forwarded (so the
/// proxy knows whether to keep the request body for `{body.*}` templates).
public struct PurgePlan: Sendable {
    public let matches: [(rule: PurgeRule, params: [String: String])]

    public var isEmpty: Bool { matches.isEmpty }
    public var readsBody: Bool { matches.contains { $0.rule.readsBody } }
    /// The members of the JSON body the matching rules read.
    public var bodyPaths: [[String]] { matches.flatMap { $0.rule.bodyPaths } }

    /// The rules whose `on` matches this request; `caseInsensitive` for a path on a
    /// case-insensitive route (`RouteTable.ruleSpelling`). `overrides`: the methods the
    /// request asks the upstream to take it as (`MethodOverride`) among those the rules
    /// name, whose rules fire too; asked once, and only when a rule for another method
    /// matches the path (it may read the whole body).
    public init(method: String, overrides: (_ among: [String]) -> [String] = { _ in [] }, path: Substring,
                caseInsensitive: Bool = false, rules: [PurgeRule]) {
        var matches: [(rule: PurgeRule, params: [String: String])] = []
        var named: [String]?
        for rule in rules {
            if !rule.on.methods.contains(method) {
                guard rule.on.path.matches(path, caseInsensitive: caseInsensitive) else { continue }
                let others = named ?? overrides(Self.methods(of: rules, besides: method))
                named = others
                guard others.contains(where: rule.on.methods.contains) else { continue }
            }
            guard let params = rule.on.path.captures(path, caseInsensitive: caseInsensitive) else { continue }
            matches.append((rule, params))
        }
        self.matches = matches
    }

    /// The methods `rules` name, each once, but `method`.
    private static func methods(of rules: [PurgeRule], besides method: String) -> [String] {
        var methods: [String] = []
        for rule in rules {
            for named in rule.on.methods where named != method && !methods.contains(named) { methods.append(named) }
        }
        return methods
    }

    /// Whether an upstream status purges: 2xx and 3xx do; 1xx, 4xx and 5xx never.
    public static func purges(status: Int) -> Bool { (200..<400).contains(status) }

    /// What the matching rules purge: the scopes to remove, the scopes to make stale
    /// (`"mode": "stale"` rules), the placeholders that had to widen to a subtree or to
    /// routes, and the tag targets skipped: a value no tag can hold, or a missing one no
    /// route's body tags could carry (only a `Surrogate-Key` could: those cannot be found).
    public struct Scopes: Sendable {
        public var remove: [PurgeScope] = []
        public var stale: [PurgeScope] = []
        public var widened: [String] = []
        public var skippedTags: [String] = []
    }

    /// `routes`: whose body tags a tag target without its value widens to.
    public func scopes(query: Substring?, headers: any HeaderFields, body: JSONValue?, routes: RouteTable = RouteTable([])) -> Scopes {
        var out = Scopes()
        for (rule, params) in matches {
            var scopes: [PurgeScope] = []
            let values = PurgeValues(params: params, query: query, headers: headers, body: body)
            for target in rule.targets {
                switch target {
                case .route(let name):
                    scopes.append(.route(name))
                case .path(let template):
                    let (scope, wide) = template.expand(values)
                    scopes.append(scope)
                    if let wide { out.widened.append("\(template.source): \(wide)") }
                case .tag(let template):
                    let tags = template.expand(values)
                    scopes += tags.map { .tag($0) }
                    guard tags.isEmpty else { continue }
                    // A missing value widens, as a path's widens to its subtree: to every entry
                    // that may carry such a tag from its body, every entry of the routes whose
                    // tags could. One no tag can hold is skipped: nothing stored carries it.
                    let wide = !template.lacksValue(values) ? []
                        : routes.routes.filter { $0.tags.contains { template.couldName($0) } }.map(\.name)
                    if wide.isEmpty {
                        out.skippedTags.append(template.source)
                    } else {
                        scopes += wide.map { .route($0) }
                        out.widened.append("\(template.source): routes \(wide.joined(separator: ", "))")
                    }
                }
            }
            switch rule.mode {
            case .remove: out.remove += scopes
            case .stale: out.stale += scopes
            }
        }
        return out
    }
}

/// RFC 9111 §4.4: a successful unsafe request invalidates its own URI and the
/// same-host `Location` / `Content-Location` of its answer. DESIGN draws the line at
/// GET, HEAD, OPTIONS and TRACE: every other method invalidates, and fires the purge
/// rules that name it, also WebDAV's and QUERY's reads (registered as safe), since an
/// upstream that changes something on one must not leave its old answer served.
public enum Invalidation {
    public static let safeMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE"]

    public static func scopes(method: String, status: Int, path: Substring, host: String?,
                              response: some HeaderFields) -> [PurgeScope] {
        guard !safeMethods.contains(method), PurgePlan.purges(status: status) else { return [] }
        var scopes: [PurgeScope] = [.path(String(path))]
        for field in ["location", "content-location"] {
            guard let value = response.first(field), let p = sameHostPath(value, host: host) else { continue }
            if !scopes.contains(.path(p)) { scopes.append(.path(p)) }
        }
        return scopes
    }

    /// The path of a URI reference if it points at `host` (or is relative to it).
    static func sameHostPath(_ reference: String, host: String?) -> String? {
        var rest = Substring(reference.trimmingSpaces())
        if rest.hasPrefix("//") || rest.lowercased().hasPrefix("http://") || rest.lowercased().hasPrefix("https://") {
            if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
                rest = rest[rest.index(colon, offsetBy: 3)...]
            } else {
                rest = rest.dropFirst(2)   // scheme-relative: //host/path
            }
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
            guard let host, rest[..<authorityEnd].lowercased() == host.lowercased() else { return nil }
            rest = rest[authorityEnd...]
        }
        guard rest.hasPrefix("/") else { return nil }
        let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
        return String(rest[..<end])
    }
}
