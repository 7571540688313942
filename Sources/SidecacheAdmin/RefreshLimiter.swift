import NIOCore
import SidecacheConfig
import Synchronization

/// `admin.refreshLimit` ("N/period") per cache key, in fixed windows. With Redis the
/// count lives there, so the limit holds across every instance; when Redis cannot
/// answer, this instance's own count decides (a refresh is never refused because the
/// store is sick, nor let through unlimited).
final class RefreshLimiter: Sendable {
    enum Decision: Equatable, Sendable {
        case allowed
        /// Seconds until the window ends (at least 1): the `Retry-After`.
        case limited(retryAfter: Int)
    }

    let limit: RateLimit
    private let local = Mutex(FixedWindows())

    init(limit: RateLimit) { self.limit = limit }

    func admit(key: String, backend: any AdminBackend, on loop: any EventLoop) async -> Decision {
        if let shared = await backend.sharedRateLimitHit(key: key, window: limit.period, by: 1, on: loop) {
            if shared.count <= limit.count { return .allowed }
            // A refused call takes its hit back: only admitted refreshes use the window.
            // Counted, a retry while a slow refresh ran kept the key locked for the whole
            // window after that refresh failed and was refunded.
            _ = await backend.sharedRateLimitHit(key: key, window: limit.period, by: -1, on: loop)
            return .limited(retryAfter: Self.seconds(ms: shared.remainingMs))
        }
        return local.withLock { $0.hit(key, limit: limit, now: .now) }
    }

    /// Takes back an admitted hit: a refresh that failed does not use up the window.
    func refund(key: String, backend: any AdminBackend, on loop: any EventLoop) async {
        if await backend.sharedRateLimitHit(key: key, window: limit.period, by: -1, on: loop) != nil { return }
        local.withLock { $0.refund(key) }
    }

    /// Whole seconds, rounded up, at least 1; no overflow at any `ms`.
    static func seconds(ms: Int) -> Int { max(1, ms / 1000 + (ms % 1000 > 0 ? 1 : 0)) }
}

/// In-process fixed windows, one per key. Bounded: past `maxKeys`, ended windows are
/// dropped, and if every window is still open the oldest go.
struct FixedWindows: Sendable {
    private var windows: [String: (start: ContinuousClock.Instant, count: Int)] = [:]
    var maxKeys = 10_000

    mutating func hit(_ key: String, limit: RateLimit, now: ContinuousClock.Instant) -> RefreshLimiter.Decision {
        if var w = windows[key], now - w.start < limit.period {
            guard w.count >= limit.count else {
                w.count += 1
                windows[key] = w
                return .allowed
            }
            // Refused: not counted (see `RefreshLimiter.admit`).
            let remaining = limit.period - (now - w.start)
            return .limited(retryAfter: RefreshLimiter.seconds(ms: Int(remaining.milliseconds)))
        }
        if windows.count >= maxKeys { prune(now: now, period: limit.period) }
        windows[key] = (now, 1)
        return limit.count >= 1 ? .allowed : .limited(retryAfter: RefreshLimiter.seconds(ms: Int(limit.period.milliseconds)))
    }

    mutating func refund(_ key: String) {
        if var w = windows[key], w.count > 0 {
            w.count -= 1
            windows[key] = w
        }
    }

    private mutating func prune(now: ContinuousClock.Instant, period: Duration) {
        windows = windows.filter { now - $0.value.start < period }
        if windows.count >= maxKeys {
            let oldest = windows.sorted { $0.value.start < $1.value.start }.prefix(windows.count - maxKeys / 2)
            for (key, _) in oldest { windows[key] = nil }
        }
    }
}
