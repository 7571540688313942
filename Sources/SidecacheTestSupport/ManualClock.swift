#if canImport(Glibc)
import Glibc
#endif
import SidecacheCore
import Synchronization

/// A wall clock tests move by hand, so TTL tests advance time instead of sleeping.
/// Starts at the real time so upstream `Date` headers stay plausible.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(start: Timestamp = ManualClock.realNow()) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    public static func realNow() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(milliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}
