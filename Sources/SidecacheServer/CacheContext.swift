import NIOHTTP1
import SidecacheCore

/// What a request on a cache route is about: its route, key and path.
struct CacheContext: Sendable {
    let route: Route
    let key: CacheKey
    let target: RequestTarget
    /// Headers learned from the upstream's `Vary` that this key includes.
    let varyHeaders: [String]

    /// The purge scopes an entry here belongs to. Computed only when needed (fills,
    /// flights), never on a plain hit.
    var scopeIDs: [UInt64] { PurgeScope.ids(route: route.name, path: route.spelling.canonical(target.path)) }

    /// The request fields this key reads besides the URL, as `Vary` names them: the
    /// route's (`Route.keyVary`) and those learned. Asked on fills only.
    var keyVary: [String] { varyHeaders.isEmpty ? route.keyVary : (route.keyVary + varyHeaders).uniqued() }

    /// The path is spelled as its route folds into another's entry (`Route.folds`).
    /// Asked on misses only.
    var respelled: Bool { route.folds(target.path) }
}

extension CacheContext {
    /// The context of `request` on `route` (`identity`: the identity value or the
    /// verified claims' fingerprint; `body`: what a `key.body` route adds to the key).
    init(route: Route, target: RequestTarget, identity: Substring?, request: HTTPRequestHead, body: RequestBodyKey?,
         engine: ProxyEngine, settings: ProxySettings) {
        let vary = engine.vary.headers(for: route.name)
        // The Host the upstream gets: an HTTP/1.0 request without one is sent the Host
        // clients use (`host`), else the upstream's authority, as warming sends (an
        // empty `Host:` is refused before this).
        let host = request.headers.first(name: "host") ?? settings.config.defaultHost
        let key = CacheKeyBuilder.key(route: route, host: host, target: target, headers: request.headers, identity: identity,
                                      varyHeaders: vary, body: body)
        self.init(route: route, key: key, target: target, varyHeaders: vary)
    }
}
