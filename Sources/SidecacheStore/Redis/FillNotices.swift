import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// The other half of cross-instance coalescing: instances waiting for another one's
/// fill of a key, woken when its lease holder announces the fill is over (a message on
/// the fill channel naming the key digest), or when their bound passes, whichever comes
/// first; either way they then read the key again. Waiting is a registration and a
/// timer, never a poll.
final class FillNotices: Sendable {
    /// The waiters by key digest; each wakes once.
    private final class Waiters: Sendable {
        struct Waiter {
            let id: UInt64
            let wake: @Sendable () -> Void
        }

        private let state = Mutex<(next: UInt64, byKey: [String: [Waiter]])>((0, [:]))

        func add(_ digest: String, _ wake: @escaping @Sendable () -> Void) -> UInt64 {
            state.withLock { s in
                s.next += 1
                s.byKey[digest, default: []].append(Waiter(id: s.next, wake: wake))
                return s.next
            }
        }

        func remove(_ digest: String, id: UInt64) {
            state.withLock { s in
                s.byKey[digest]?.removeAll { $0.id == id }
                if s.byKey[digest]?.isEmpty == true { s.byKey[digest] = nil }
            }
        }

        func wakeAll(_ digest: String) {
            let woken = state.withLock { $0.byKey.removeValue(forKey: digest) } ?? []
            for waiter in woken { waiter.wake() }
        }

        func wakeEveryone() {
            let woken = state.withLock { s in defer { s.byKey = [:] }; return s.byKey.values.flatMap { $0 } }
            for waiter in woken { waiter.wake() }
        }
    }

    /// Makes a wake-up happen once, whichever of the announcement, the timer and the
    /// caller comes first, and lets go of the callback then: the timer lives on to its
    /// bound, and what the callback holds (a waiting exchange, its connection and the
    /// requests queued on it) must not live on with it.
    private final class Once: Sendable {
        private let pending: Mutex<(@Sendable () -> Void)?>
        init(_ done: @escaping @Sendable () -> Void) { pending = Mutex(done) }
        func take() -> (@Sendable () -> Void)? { pending.withLock { done in defer { done = nil }; return done } }
    }

    private let subscription: RedisSubscription
    private let waiters = Waiters()

    init(endpoint: RedisEndpoint, tls: RedisTLS?, keys: RedisKeys, loop: any EventLoop, logger: Logger) {
        let waiters = self.waiters
        subscription = RedisSubscription(
            channel: keys.fillChannel, loop: loop, logger: logger,
            connect: { loop, onPush in
                RedisMaster.connectForSubscription(endpoint, tls: tls, on: loop, timeout: .seconds(1), onPush: onPush)
            },
            onMessage: { digest in waiters.wakeAll(digest) },
            // Back after a gap: announcements made meanwhile went by unheard.
            onSubscribed: { waiters.wakeEveryone() },
            // Unanswered (a paused Redis) or gone: none will be heard until it is back. A
            // quiet instance opens no breaker to tell it (the review's: its waiter sat
            // out its whole bound while the leader had long finished).
            onLost: { waiters.wakeEveryone() })
    }

    func start() { subscription.start() }

    /// Ends every wait now: a link to Redis went or stopped answering, and with it
    /// possibly a lease holder's announcement (its node killed mid-fill), which nobody
    /// would then hear before the waits' bounds (`upstreamTimeout`). Woken early, a waiter reads the key again and
    /// fetches it itself if it is not there: a fetch more, never a stall.
    func wakeEveryone() { waiters.wakeEveryone() }
    func stop() { subscription.stop() }

    /// Calls `done` once, on `loop`: when `key`'s fill is announced, or after `bound`, or
    /// when the returned wake-up is called (the caller saw the fill over some other way).
    @discardableResult
    func wait(for key: CacheKey, bound: Duration, on loop: any EventLoop,
              _ done: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let digest = key.description
        let once = Once(done)
        let fire: @Sendable () -> Void = { if let done = once.take() { loop.execute(done) } }
        let id = waiters.add(digest, fire)
        loop.scheduleTask(in: .milliseconds(bound.milliseconds)) { [waiters] in
            waiters.remove(digest, id: id)
            fire()
        }
        return { [waiters] in
            waiters.remove(digest, id: id)
            fire()
        }
    }
}
