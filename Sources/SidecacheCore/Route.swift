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

/// The knobs of `defaults` that every route may override.
public struct RoutePolicy: Sendable, Equatable {
    public var staleWhileRevalidate: Duration
    public var staleIfError: Duration
    public var maxBodySize: Int
    public var upstreamTimeout: Duration
    public var maxRequestBody: Int

    public init(staleWhileRevalidate: Duration = .zero, staleIfError: Duration = .zero,
                maxBodySize: Int = 8 << 20, upstreamTimeout: Duration = .seconds(30),
                maxRequestBody: Int = 16 << 20) {
        self.staleWhileRevalidate = staleWhileRevalidate
        self.staleIfError = staleIfError
        self.maxBodySize = maxBodySize
        self.upstreamTimeout = upstreamTimeout
        self.maxRequestBody = maxRequestBody
    }
}

/// One cache rule of proxy.json: which GETs it caches, for how long, keyed on what.
public struct Route: Sendable, Equatable {
    public var name: String
    public var pattern: RequestPattern
    public var ttl: TTLPolicy
    public var query: QueryKey
    /// Request headers that vary the key, lowercased.
    public var keyHeaders: [String]
    public var identity: IdentitySource?
    /// Lets requests with Authorization/Cookie use the cache on a route without identity.
    public var shared: Bool
    /// Ignore the upstream's Cache-Control/Expires (never its Set-Cookie).
    public var override: Bool
    public var policy: RoutePolicy

    public init(name: String, pattern: RequestPattern, ttl: TTLPolicy, query: QueryKey = .all,
                keyHeaders: [String] = [], identity: IdentitySource? = nil, shared: Bool = false,
                override: Bool = false, policy: RoutePolicy = RoutePolicy()) {
        self.name = name
        self.pattern = pattern
        self.ttl = ttl
        self.query = query
        self.keyHeaders = keyHeaders.map { $0.lowercased() }
        self.identity = identity
        self.shared = shared
        self.override = override
        self.policy = policy
    }
}

/// Routes in the order written; the first whose pattern matches wins.
public struct RouteTable: Sendable {
    public let routes: [Route]

    public init(_ routes: [Route]) { self.routes = routes }

    /// The route for a GET (or HEAD, answered from the GET entry) on `path`.
    public func route(forGET path: Substring) -> Route? {
        for route in routes where route.pattern.path.matches(path) { return route }
        return nil
    }

    public func route(named name: String) -> Route? { routes.first { $0.name == name } }
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
