/// What the proxy should do with an incoming request, before any I/O.
public enum RequestClass: Sendable {
    /// Look it up (and fill on a miss). `identity` is the raw identity value, if any.
    case cache(Route, identity: Substring?)
    /// A `key.claims` route: verify `token`, then look up under its claims (or bypass
    /// with `unverified` when it does not verify).
    case verify(Route, token: Substring)
    /// A cache route, but this request must not touch the cache.
    case bypass(Route, BypassReason)
    /// No cache route applies: forward as is.
    case pass
}

public enum RequestClassifier {
    /// The fields `classify` asks about, looked for in one pass.
    static let asked = HeaderNameSet(MethodOverride.fields + ["authorization", "cookie"])
    static let methodOverride = MethodOverride.fields.reduce(UInt64(0)) { $0 | asked.bit($1) }
    static let authorization = asked.bit("authorization")
    static let cookie = asked.bit("cookie")

    /// Applies DESIGN.md's safety rules in order: only body-less GET/HEAD (or a POST on
    /// a `key.body` route, its body part of the key) on a cache-safe path may use the
    /// cache, and a request carrying credentials only when the route scopes entries to
    /// an identity or is declared `shared`.
    ///
    /// `body`: the request body, where there is one (a POST's `_method` field asks the
    /// upstream for another method, as the override headers do).
    public static func classify(method: String, target: RequestTarget?, headers: some HeaderFields,
                                hasBody: Bool, body: UnsafeRawBufferPointer? = nil, routes: RouteTable) -> RequestClass {
        guard let target, let route = route(method, target.path, routes) else { return .pass }
        if !target.isCacheSafe { return .bypass(route, .unsafePath) }
        // Servers that read `;params` as segment parameters (Tomcat, Jetty, Spring)
        // answer `/api/me;x` as `/api/me`, for whoever asks. On a route whose entries
        // others share (`shared`, `key.claims`) a wildcard that matched it would hand
        // the asker's own answer to them: cache deception. A route that says
        // `ignoreMatrix` reads such a path as its plain spelling, which it never fills.
        if route.shared || route.claims != nil {
            if !route.spelling.ignoreMatrix, target.path.containsUTF8Byte(UInt8(ascii: ";")) { return .bypass(route, .unsafePath) }
            // `/api/Me` or `/api/me.json`, which upstreams answer as `/api/me`, the same way.
            if CacheDeception.resemblesMorePersonalRoute(target.path, takenBy: route, in: routes, post: method == "POST") { return .bypass(route, .unsafePath) }
        }
        if hasBody && method != "POST" { return .bypass(route, .requestBody) }
        let present = headers.present(asked)
        if present & methodOverride != 0 { return .bypass(route, .methodOverride) }
        if method == "POST" {
            if MethodOverride.isAsked(query: target.query, body: body, contentType: headers.first("content-type")) {
                return .bypass(route, .methodOverride)
            }
            if let refusal = RequestBodyKey.refusal(headers: headers, body: body) { return .bypass(route, refusal) }
        }
        if route.claims != nil || (route.shared && present & (authorization | cookie) != 0),
           CacheDeception.liesBelowMorePersonalRoute(target.path, takenBy: route, in: routes, post: method == "POST") {
            return .bypass(route, .unsafePath)
        }

        if let claims = route.claims {
            switch identityValue(claims.from, headers) {
            case .one(let value):
                guard let token = bearerToken(value, from: claims.from) else { return .bypass(route, .unverified) }
                // Entries here are shared by everyone with the same claims: a credential
                // beside the token's own carrier (a session cookie next to the bearer token)
                // may make the answer personal, so it bypasses, as on any route without
                // `key.identity`, unless the route is `shared`.
                if !route.shared, let other = otherCredential(present, besides: claims.from, headers) { return .bypass(route, other) }
                return .verify(route, token: token)
            case .ambiguous: return .bypass(route, .ambiguousIdentity)
            case .none: return .bypass(route, .unverified)
            }
        }
        if let source = route.identity {
            switch identityValue(source, headers) {
            case .one(let identity): return .cache(route, identity: identity)
            case .ambiguous: return .bypass(route, .ambiguousIdentity)
            case .none: break
            }
        }
        // No identity value: credentials of any kind make the answer possibly personal.
        if !route.shared {
            if present & authorization != 0 { return .bypass(route, .authorization) }
            if present & cookie != 0 { return .bypass(route, .cookie) }
        }
        return .cache(route, identity: nil)
    }

    /// A credential in `present` other than the one `source` reads. Beside a token
    /// cookie, any other cookie is one (a `session=` the upstream answers for its user
    /// rides in the same `Cookie` field), as a `Cookie` is on any route without an
    /// identity.
    private static func otherCredential(_ present: UInt64, besides source: IdentitySource, _ headers: some HeaderFields) -> BypassReason? {
        switch source {
        case .cookie(let name):
            if present & authorization != 0 { return .authorization }
            return hasCookie(besides: name, headers) ? .cookie : nil
        case .header(let name):
            if present & cookie != 0 { return .cookie }
            return present & authorization != 0 && !name.equalsIgnoringASCIICase("authorization") ? .authorization : nil
        }
    }

    private static func hasCookie(besides name: String, _ headers: some HeaderFields) -> Bool {
        headers.all("cookie").contains { line in
            line.split(separator: ";").contains { pair in
                guard let (pairName, _, _) = cookiePair(pair) else { return !pair.allSatisfy { $0 == " " || $0 == "\t" } }
                return !pairName.elementsEqual(name)
            }
        }
    }

    /// A cookie value that some parser may read as holding another `name=value`: a blank
    /// or `,` (not cookie-octets, RFC 6265 §4.1.1) with an `=` after it. A quote is not
    /// one: `SimpleCookie` reads a quoted value whole, and quotes every value holding an
    /// `=` itself (`prefs="lang=en"`, base64's padding).
    private static func mayHideAPair(_ value: Substring) -> Bool {
        guard let split = value.utf8.firstIndex(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") })
        else { return false }
        return value.utf8[split...].contains(UInt8(ascii: "="))
    }

    /// One `name=value` of a `Cookie` field, the name without the blanks around it,
    /// and whether blanks stood before the `=`: servers disagree on what such a name
    /// is, so it is never taken for the identity's (nor for a stranger beside it).
    private static func cookiePair(_ pair: Substring) -> (name: Substring, value: Substring, blankBeforeEquals: Bool)? {
        guard let eq = pair.firstIndex(of: "=") else { return nil }
        var name = pair[..<eq].drop(while: { $0 == " " || $0 == "\t" })
        let untrimmed = name.count
        while let last = name.last, last == " " || last == "\t" { name = name.dropLast() }
        return (name, pair[pair.index(after: eq)...], name.count != untrimmed)
    }

    private static func route(_ method: String, _ path: Substring, _ routes: RouteTable) -> Route? {
        switch method {
        case "GET", "HEAD": routes.route(forGET: path)
        case "POST": routes.route(forPOST: path)
        default: nil
        }
    }

    public enum Identity: Equatable {
        case none
        case one(Substring)
        /// Sent more than once: the key would name one value, the upstream might read another.
        case ambiguous
    }

    /// The token in a credential: `Bearer <token>` in a header (RFC 6750 §2.1, the
    /// scheme case-insensitive), the cookie's whole value; nil when it is not one.
    static func bearerToken(_ value: Substring, from source: IdentitySource) -> Substring? {
        let token: Substring
        switch source {
        case .cookie:
            token = value
        case .header:
            guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
            token = value.dropFirst(7).drop(while: { $0 == " " })
        }
        // token68: a JWT is three base64url parts; anything else is not worth verifying.
        let allowed = token.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x3D
        }
        return allowed && !token.isEmpty ? token : nil
    }

    /// The identity value of a request: absent (or empty), exactly one, or more than one.
    public static func identityValue(_ source: IdentitySource, _ headers: some HeaderFields) -> Identity {
        var found: Substring?
        switch source {
        case .header(let name):
            for v in headers.all(name) {
                if found != nil { return .ambiguous }
                found = v[...]
            }
        case .cookie(let name):
            for line in headers.all("cookie") {
                for pair in line.split(separator: ";") {
                    guard let (pairName, value, blankBeforeEquals) = cookiePair(pair) else { continue }
                    // `foo=x sid=evil` or `foo=1, sid=evil`: one pair to a parser that splits
                    // on `;` only, two to Python's `SimpleCookie` (aiohttp, Tornado), which
                    // splits on blanks too and takes the last `sid`.
                    if mayHideAPair(value) { return .ambiguous }
                    guard pairName.elementsEqual(name) else {
                        // `SID=x` is `sid` to ASP.NET (names case-blind), `%73id=x` and `s.id`-like
                        // spellings to PHP (names decoded): beside `sid=y`, either may be the
                        // one the upstream reads; alone, it may be read where the key saw none.
                        if queryName(pairName.utf8, readsAs: name) { return .ambiguous }
                        continue
                    }
                    // `sid =x`: `sid` to Python and Django, `sid ` to Rack, `sid_` to PHP.
                    if found != nil || blankBeforeEquals { return .ambiguous }
                    found = value
                }
            }
        }
        guard let found, !found.isEmpty else { return .none }
        // Bytes that are not UTF-8 reach here (and the upstream) as U+FFFD: `zz\xff` and
        // `zz\xfe` would be one key, two credentials to anything that read the bytes.
        if found.utf8.contains(0xEF), found.unicodeScalars.contains("\u{FFFD}") { return .ambiguous }
        return .one(found)
    }
}
