import SidecacheCore

/// How a forwarded answer is marked.
enum ForwardMarker {
    /// No cache route applies.
    case pass
    /// A cache route, but this request may not use the cache.
    case bypass(BypassReason)

    var cacheStatus: String {
        switch self {
        case .pass: "sidecache; fwd=bypass"
        case .bypass(let reason): CacheStatusField.bypass(reason)
        }
    }
}
