import NIOCore
import SidecacheCore
import SidecacheStore

/// What an answer says the cache did with its request: `X-Cache` and `Cache-Status`
/// (DESIGN "Headers"). The proxy's own errors carry one too, so that a 502 or 504 says
/// whether it failed a fill, a wait on another's fill, or a forward past the cache.
struct CacheMark {
    let xCache: CacheOutcome
    let cacheStatus: String

    /// A miss the upstream failed: the fill, or the fill this request waited on.
    static let failedFill = CacheMark(xCache: .miss, cacheStatus: CacheStatusField.miss(stored: false))

    /// A miss with `only-if-cached`: nothing was forwarded (RFC 9211 §2.2: no `fwd`).
    static let onlyIfCached = CacheMark(xCache: .miss, cacheStatus: "sidecache; detail=only-if-cached")

    /// A request forwarded past the cache under `marker` (`ForwardMarker`).
    static func forwarded(_ marker: String) -> CacheMark { CacheMark(xCache: .bypass, cacheStatus: marker) }

    /// An answer made from an entry of `timing` at `now`: a stale one's freshness is
    /// spent (RFC 9211 §2.5: negative when stale); a `revalidated` one was confirmed by
    /// the upstream.
    static func fromCache(_ timing: EntryTiming, now: Timestamp, stale: Bool, revalidated: Bool = false) -> CacheMark {
        let remaining = timing.remaining(at: now)
        let ttl = stale ? min(remaining, .zero) : remaining
        return CacheMark(xCache: stale ? .stale : .hit,
                         cacheStatus: revalidated ? CacheStatusField.revalidated(ttl: ttl) : CacheStatusField.hit(ttl: ttl))
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeHeader("X-Cache", xCache.rawValue)
        buffer.writeHeader(CacheStatusField.name, cacheStatus)
    }
}
