import Crypto

/// How long an answer stays fresh on a route.
public enum TTLPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The operator's freshness, and a ceiling the upstream can only lower.
    case fixed(Duration)
    /// RFC 9111 shared cache: freshness only from the upstream's explicit directives.
    case origin

    public var description: String {
        switch self {
        case .fixed(let d): formatDuration(d)
        case .origin: "origin"
        }
    }
}

/// Which query parameters become part of the key.
public enum QueryKey: Sendable, Equatable {
    case all
    case none
    case only([String])
}

extension QueryKey {
    /// The request-target a fill sends upstream: the path as received and only the
    /// query parameters the key includes, in the order received. The stored answer is
    /// then computed from exactly what the key names, so a parameter outside the key
    /// (`?utm=…`, `?debug=1`) cannot shape what every other client is served.
    public func fillTarget(_ target: RequestTarget, uri: String) -> String {
        switch self {
        case .all:
            return uri
        case .none:
            return String(target.path)
        case .only:
            guard let query = target.query else { return uri }
            let kept = query.split(separator: "&", omittingEmptySubsequences: true).filter { pair in
                keeps(pair.prefix { $0 != "=" })
            }
            return kept.isEmpty ? String(target.path) : String(target.path) + "?" + kept.joined(separator: "&")
        }
    }

    /// Whether a `.only` list keeps the parameter `name` (as sent, escapes and all): a
    /// listed name in any spelling an upstream reads as it (`ids%5B%5D` is `ids[]`, as
    /// `URLSearchParams` and axios send it). Dropped from the fill, it would have left
    /// the upstream answering an unfiltered list, stored for everyone who asked for it.
    /// Keeping a looser match only keys more finely.
    func keeps(_ name: Substring) -> Bool {
        guard case .only(let allowed) = self else { return self == .all }
        return allowed.contains { queryNamesReadAlike($0[...], name) }
    }
}

/// Whose answer an entry is: a request header, or one cookie.
public enum IdentitySource: Sendable, Equatable, CustomStringConvertible {
    case header(String)
    case cookie(String)

    public var description: String {
        switch self {
        case .header(let h): h
        case .cookie(let c): "cookie:" + c
        }
    }
}

/// `key.claims`: entries shared by every request whose verified token carries the same
/// values of `names`; the token is read from `from` (`Authorization: Bearer …` or a cookie).
public struct ClaimsKey: Sendable, Equatable {
    public var names: [String]
    public var from: IdentitySource
    /// Whose tokens the claims come from (see `JWTConfig.authority`): user 42 of one
    /// issuer is not user 42 of the next, so a reload that changes it changes the keys.
    public var authority: String

    public init(names: [String], from: IdentitySource, authority: String = "") {
        self.names = names
        self.from = from
        self.authority = authority
    }

    /// The `authority` of tokens checked against `issuer` and `audience` and verified
    /// with `keys`: the issuer when one is named (rotating its keys keeps the entries),
    /// else a digest of the keys (a new signer is a new authority); the audience either way.
    public static func authority(issuer: String?, audience: String?, keys: [[UInt8]]) -> String {
        let audience = "aud=" + (audience ?? "")
        if let issuer { return audience + "\u{0}iss=" + issuer }
        var hasher = SHA256()
        for key in keys {
            withUnsafeBytes(of: UInt64(key.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: key)
        }
        let digest = hasher.finalize().withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        return audience + "\u{0}keys=" + digest.paddedHex
    }

    /// The key part for verified `claims` (each value canonical JSON text), or nil when
    /// a listed claim is missing. Values are hashed into the key, never logged.
    public func fingerprint(_ claims: [String: String]) -> String? {
        var out = ""
        for name in names {
            guard let value = claims[name] else { return nil }
            out += name
            out += "\u{0}"
            out += value
            out += "\u{0}"
        }
        return out
    }
}

/// The knobs of `defaults` that every route may override.
public struct RoutePolicy: Sendable, Equatable {
    public var staleWhileRevalidate: Duration
    public var staleIfError: Duration
    public var maxBodySize: Int
    public var upstreamTimeout: Duration
    public var maxRequestBody: Int
    /// Store compressible answers gzipped once (`ContentCoding`); false stores them as sent.
    public var compress: Bool
    /// `verify`: the share of fresh hits (0...1) fetched again in the background and
    /// compared with the entry (shadow verification).
    public var verify: Double

    public init(staleWhileRevalidate: Duration = .zero, staleIfError: Duration = .zero,
                maxBodySize: Int = 8 << 20, upstreamTimeout: Duration = .seconds(30),
                maxRequestBody: Int = 16 << 20, compress: Bool = true, verify: Double = 0) {
        self.compress = compress
        self.verify = verify
        self.staleWhileRevalidate = staleWhileRevalidate
        self.staleIfError = staleIfError
        self.maxBodySize = maxBodySize
        self.upstreamTimeout = upstreamTimeout
        self.maxRequestBody = maxRequestBody
    }
}

/// One cache rule of proxy.json: which GETs (or body-keyed POST reads) it caches, for
/// how long, keyed on what.
///
/// A class, immutable once built: every request carries its route from classification
/// to the answer, and a struct of this many references cost a retain and a release per
/// field at every copy (callgrind, issue 13). Equal when every field is.
public final class Route: Sendable, Equatable {
    public let name: String
    public let pattern: RequestPattern
    public let ttl: TTLPolicy
    public let query: QueryKey
    /// Request headers that vary the key, lowercased.
    public let keyHeaders: [String]
    public let identity: IdentitySource?
    /// Verified token claims that scope entries (`key.claims`); never together with `identity`.
    public let claims: ClaimsKey?
    /// Lets requests with Authorization/Cookie use the cache on a route without identity.
    public let shared: Bool
    /// Ignore the upstream's Cache-Control/Expires (never its Set-Cookie).
    public let override: Bool
    public let policy: RoutePolicy
    /// Which spellings of a path are one resource here, for matching, keys and purges.
    public let spelling: PathSpelling
    /// `tags`: Surrogate-Key tags taken from the JSON answer at store time.
    public let tags: [BodyTag]
    /// `key.body`: the request body is part of the key, and the route may cache POST
    /// reads (search, GraphQL queries). Never any other unsafe method.
    public let keyBody: Bool
    /// Whether the route's `match` names GET (else it caches POST reads only).
    public let cachesGET: Bool
    /// Whether it caches POST reads: `match` names POST and `key.body` is set.
    public let cachesPOST: Bool
    /// What a key hashes for its route: the name, how the route makes keys (whose
    /// answer an entry is, which headers and claims scope it, which spellings of a path
    /// are one), which answers it may store (`override`, `ttl: "origin"`) and what it
    /// tags entries with. A reload that changes any of them changes every key of the
    /// route, so nothing stored under the old rules answers under the new ones: an
    /// anonymous request once read the entry a user's request stored while the route
    /// was `shared` by mistake; `/users/bob` read `/users/Bob`'s after `caseInsensitive`
    /// was dropped; a `private` answer stored under `override` outlived it; and an entry
    /// stored before a `tags` rule carried none of its tags, so its tag purges missed it.
    public let keyName: String
    /// The request fields its key reads besides the URL, lowercased as `Vary` names
    /// them: `key.headers`, and where the credential of `identity` or `key.claims` comes
    /// from (its header, or `cookie`). Its answers carry them (`KeyVary`).
    public let keyVary: [String]
    /// A duration route's `ttl` in milliseconds, the ceiling of every entry's freshness
    /// when it is served (`EntryTiming.within`): nil on `ttl: "origin"` routes.
    public let freshnessCeiling: Int64?

    /// Whether `path` is not spelled as its key reads it, on a route whose key folds
    /// spellings (`paths`): escapes of unreserved characters, or escape hex in lowercase
    /// (RFC 3986 §6.2.2, the same URI), or — on an `ignoreMatrix` route — segment
    /// parameters, which are not always a version: `;jsessionid=` is a Tomcat session,
    /// and its user's answer would fill the entry every spelling reads. Such a spelling
    /// is served from that entry and never fills it (nor does a refresh or warm of it).
    /// An exact route keys the path as received: each spelling is an entry of its own,
    /// which its purges reach all the same (scopes are canonical).
    public func folds(_ path: Substring) -> Bool {
        guard spelling != .exact else { return false }
        return PathSpelling.exact.canonical(path) != path || (spelling.ignoreMatrix && path.containsUTF8Byte(UInt8(ascii: ";")))
    }

    public init(name: String, pattern: RequestPattern, ttl: TTLPolicy, query: QueryKey = .all,
                keyHeaders: [String] = [], identity: IdentitySource? = nil, claims: ClaimsKey? = nil, shared: Bool = false,
                override: Bool = false, policy: RoutePolicy = RoutePolicy(), spelling: PathSpelling = .exact,
                tags: [BodyTag] = [], keyBody: Bool = false) {
        self.claims = claims
        self.tags = tags
        self.keyBody = keyBody
        self.cachesGET = pattern.methods.contains("GET")
        self.cachesPOST = keyBody && pattern.methods.contains("POST")
        self.name = name
        self.pattern = pattern
        self.ttl = ttl
        if case .fixed(let lifetime) = ttl { freshnessCeiling = lifetime.milliseconds } else { freshnessCeiling = nil }
        self.query = query
        self.keyHeaders = keyHeaders.map { $0.lowercased() }
        self.identity = identity
        self.keyVary = (self.keyHeaders + [identity, claims?.from].compactMap { source in
            switch source {
            case .header(let name): name.lowercased()
            case .cookie: "cookie"
            case nil: nil
            }
        }).uniqued()
        self.shared = shared
        self.override = override
        self.policy = policy
        self.spelling = spelling
        // A route keyed on path and query alone hashes its name alone (as before these
        // rules were part of it: its entries in Redis stay valid across an upgrade).
        let scope = [identity.map { "identity=\($0)" }, shared ? "shared" : nil, override ? "override" : nil,
                     ttl == .origin ? "origin" : nil,
                     self.keyHeaders.isEmpty ? nil : "headers=" + self.keyHeaders.joined(separator: ","),
                     claims.map { "claims=\($0.names.joined(separator: ",")) from \($0.from) by \($0.authority)" }, keyBody ? "body" : nil,
                     spelling == .exact ? nil : "paths=\(spelling.caseInsensitive),\(spelling.ignoreTrailingSlash),\(spelling.ignoreMatrix)",
                     tags.isEmpty ? nil : "tags=" + tags.map(\.description).joined(separator: ",")]
        self.keyName = ([name] + scope.compactMap { $0 }).joined(separator: "\u{0}")
    }

    public static func == (a: Route, b: Route) -> Bool {
        a === b || (a.name == b.name && a.pattern == b.pattern && a.ttl == b.ttl && a.query == b.query
            && a.keyHeaders == b.keyHeaders && a.identity == b.identity && a.claims == b.claims && a.shared == b.shared
            && a.override == b.override && a.policy == b.policy && a.spelling == b.spelling && a.tags == b.tags
            && a.keyBody == b.keyBody)
    }

    /// Whether this route, listed first, takes every request `later` would (for the
    /// same method, GET or a `key.body` POST), so that `later` is never reached.
    public func shadows(_ later: Route) -> Bool {
        ((cachesGET && later.cachesGET) || (cachesPOST && later.cachesPOST))
            && pattern.path.covers(later.pattern.path, caseInsensitive: spelling.caseInsensitive)
    }

    /// Whether a GET on `path` belongs here, compared in this route's spelling.
    public func matches(_ path: Substring) -> Bool {
        pattern.path.matches(spelling.canonical(path), caseInsensitive: spelling.caseInsensitive)
    }
}

/// Routes in the order written; the first whose pattern matches wins.
public struct RouteTable: Sendable {
    public let routes: [Route]

    public init(_ routes: [Route]) { self.routes = routes }

    /// The route for a GET (or HEAD, answered from the GET entry) on `path`.
    public func route(forGET path: Substring) -> Route? {
        for route in routes where route.cachesGET && route.matches(path) { return route }
        return nil
    }

    /// The route for a POST read on `path`: one with `key.body` that matches POST.
    public func route(forPOST path: Substring) -> Route? {
        for route in routes where route.cachesPOST && route.matches(path) { return route }
        return nil
    }

    /// The spelling keys and purge scopes use for `path`: that of its route.
    public func canonicalPath(_ path: Substring) -> Substring {
        (route(forGET: path)?.spelling ?? .exact).canonical(path)
    }

    /// A mutation's path as purge rules see it: in the spelling of its GET route, but in
    /// the case the client wrote, since what `{name}` binds fills tags and body-free
    /// templates, which keep their case (`user:{id}` against an upstream's `user:ABC`);
    /// on a case-insensitive route the rules' own patterns match regardless of case, as
    /// the route does. Path scopes are brought to the entries' spelling after (`canonical`).
    public func ruleSpelling(of path: Substring) -> (path: Substring, caseInsensitive: Bool) {
        guard var spelling = route(forGET: path)?.spelling else { return (PathSpelling.exact.canonical(path), false) }
        let caseInsensitive = spelling.caseInsensitive
        spelling.caseInsensitive = false
        return (spelling.canonical(path), caseInsensitive)
    }

    /// A purge scope in the spelling of the entries it must reach. A subtree takes
    /// the spelling of the route its prefix falls under (probed with one more segment).
    public func canonical(_ scope: PurgeScope) -> PurgeScope {
        switch scope {
        case .path(let path):
            return .path(String(canonicalPath(path[...])))
        case .subtree(let prefix):
            var spelling = (route(forGET: (prefix + "_")[...]) ?? route(forGET: prefix.dropLast()))?.spelling ?? .exact
            spelling.ignoreTrailingSlash = false   // a prefix ends in "/" by definition
            return .subtree(String(spelling.canonical(prefix[...])))
        case .route, .tag, .all:
            return scope
        }
    }

    public func route(named name: String) -> Route? { routes.first { $0.name == name } }

    /// The body size limit for a request to `path`: its route's, else `defaults`.
    public func maxRequestBody(method: String, path: Substring?, defaults: RoutePolicy) -> Int {
        guard let path, let route = (method == "POST" ? route(forPOST: path) : nil) ?? route(forGET: path) else {
            return defaults.maxRequestBody
        }
        return route.policy.maxRequestBody
    }
}

/// `300s`-style text for a duration, using the largest unit that divides it.
public func formatDuration(_ d: Duration) -> String {
    let ms = d.milliseconds
    if ms == 0 { return "0s" }
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms % size == 0 {
        return "\(ms / size)\(unit)"
    }
    return "\(ms)ms"
}
