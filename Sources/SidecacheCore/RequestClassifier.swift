/// What the proxy should do with an incoming request, before any I/O.
public enum RequestClass: Sendable {
    /// Look it up (and fill on a miss). `identity` is the raw identity value, if any.
    case cache(Route, identity: Substring?)
    /// A cache route, but this request must not touch the cache.
    case bypass(Route, BypassReason)
    /// No cache route applies: forward as is.
    case pass
}

public enum RequestClassifier {
    static let methodOverrideHeaders = ["x-http-method-override", "x-http-method", "x-method-override"]

    /// Applies DESIGN.md's safety rules in order: only body-less GET/HEAD on a cache-safe
    /// path may use the cache, and a request carrying credentials only when the route
    /// scopes entries to an identity or is declared `shared`.
    public static func classify(method: String, target: RequestTarget?, headers: some HeaderFields,
                                hasBody: Bool, routes: RouteTable) -> RequestClass {
        guard method == "GET" || method == "HEAD", let target, let route = routes.route(forGET: target.path) else {
            return .pass
        }
        if !target.isCacheSafe { return .bypass(route, .unsafePath) }
        if hasBody { return .bypass(route, .requestBody) }
        for name in methodOverrideHeaders where headers.contains(name) { return .bypass(route, .methodOverride) }
        if headers.contains("range") { return .bypass(route, .range) }

        if let source = route.identity, let identity = identityValue(source, headers) {
            return .cache(route, identity: identity)
        }
        // No identity value: credentials of any kind make the answer possibly personal.
        if !route.shared {
            if headers.contains("authorization") { return .bypass(route, .authorization) }
            if headers.contains("cookie") { return .bypass(route, .cookie) }
        }
        return .cache(route, identity: nil)
    }

    /// The identity value of a request, or nil when absent or empty.
    public static func identityValue(_ source: IdentitySource, _ headers: some HeaderFields) -> Substring? {
        switch source {
        case .header(let name):
            guard let v = headers.first(name), !v.isEmpty else { return nil }
            return v[...]
        case .cookie(let name):
            for line in headers.all("cookie") {
                for pair in line.split(separator: ";") {
                    let kv = pair.drop(while: { $0 == " " || $0 == "\t" })
                    guard let eq = kv.firstIndex(of: "="), kv[..<eq].elementsEqual(name) else { continue }
                    let value = kv[kv.index(after: eq)...]
                    return value.isEmpty ? nil : value
                }
            }
            return nil
        }
    }
}
