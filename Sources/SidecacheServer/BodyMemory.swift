import NIOCore
import Synchronization

/// The bytes of bodies the whole process holds outside the store at once: request
/// bodies being received (they are read whole before they are forwarded) and answers
/// collected for a fill. Each is bounded by its route's size limit, but not their sum:
/// a client opening many connections could make the process hold limit × connections
/// and be killed for memory, taking every other client's answers with it
/// (`limits.bodyMemory`).
///
/// A bound shared by every client can be held by a few: bodies sent but for their last
/// bytes, then a byte every few seconds, kept every other upload at 503 for as long as
/// their senders liked (the idle timeout restarts at each byte). So a request body being
/// received records when it last made progress (`progressStep` more bytes), and when
/// another body finds no memory, the one whose progress is oldest, and over 5 seconds
/// old, is cut to make way; the refused client's retry finds room.
final class BodyMemory: Sendable {
    private let held = Atomic<Int>(0)
    /// Request bodies being received, by their hold: when each last made progress, and
    /// how to cut its connection.
    private let arriving = Mutex<[ObjectIdentifier: Receiving]>([:])

    private struct Receiving {
        var progressAt: NIODeadline
        let cut: @Sendable () -> Void
    }

    /// Growth that counts as progress: a chunk's worth. A trickle of single bytes does
    /// not, so it cannot look busy.
    static let progressStep = 16 << 10
    /// A body is not cut within this long of its last progress.
    static let patience = TimeAmount.seconds(5)

    /// Bytes held now.
    var bytes: Int { held.load(ordering: .relaxed) }

    /// A share that grows with one body and goes back when the body is let go.
    func hold(within limit: Int) -> Hold { Hold(memory: self, limit: limit, cut: nil) }

    /// A request body's share while it is received: `cut` closes its connection should
    /// it have to make way (until `Hold.received()`).
    func receiving(within limit: Int, cut: @escaping @Sendable () -> Void) -> Hold {
        let hold = Hold(memory: self, limit: limit, cut: cut)
        arriving.withLock { $0[ObjectIdentifier(hold)] = Receiving(progressAt: .now(), cut: cut) }
        return hold
    }

    /// A body alone is always taken (`own`: what it holds already), so a limit below a
    /// route's size limit slows the largest bodies down to one at a time rather than
    /// refusing them all.
    private func take(_ n: Int, within limit: Int, own: Int) -> Bool {
        let total = held.wrappingAdd(n, ordering: .relaxed).newValue
        if total <= limit || total == own + n { return true }
        held.wrappingSubtract(n, ordering: .relaxed)
        return false
    }

    private func progressed(_ hold: Hold) {
        arriving.withLock { $0[ObjectIdentifier(hold)]?.progressAt = .now() }
    }

    private func stopReceiving(_ hold: Hold) {
        _ = arriving.withLock { $0.removeValue(forKey: ObjectIdentifier(hold)) }
    }

    /// Cuts the body being received, other than `hold`'s, whose progress is oldest, if
    /// it is older than `patience`.
    private func makeWay(besides hold: Hold) {
        let mine = ObjectIdentifier(hold)
        let stalled = NIODeadline.now() - Self.patience
        let cut = arriving.withLock { all -> (@Sendable () -> Void)? in
            guard let slowest = all.filter({ $0.key != mine && $0.value.progressAt < stalled })
                .min(by: { $0.value.progressAt < $1.value.progressAt }) else { return nil }
            all.removeValue(forKey: slowest.key)
            return slowest.value.cut
        }
        cut?()
    }

    /// One body's share. Given back when the hold goes, so every way a request or a
    /// fill ends (answered, stored, cut, its client gone) gives it back. `unchecked`:
    /// it grows on its exchange's loop only, and a write's callback may let the last
    /// reference go elsewhere, where `deinit` touches nothing but the atomic and the lock.
    final class Hold: @unchecked Sendable {
        private let memory: BodyMemory
        private let limit: Int
        private var bytes = 0
        /// A request body still being received (`BodyMemory.receiving`), and its size
        /// at its last progress.
        private var isReceiving: Bool
        private var marked = 0

        fileprivate init(memory: BodyMemory, limit: Int, cut: (@Sendable () -> Void)?) {
            self.memory = memory
            self.limit = limit
            self.isReceiving = cut != nil
        }

        /// Grows the share to `total` bytes; false (the share unchanged) when the process
        /// would then hold more than the limit — a body being received then has the one
        /// stalled longest make way, for the retry.
        func grow(to total: Int) -> Bool {
            guard total > bytes else { return true }
            guard memory.take(total - bytes, within: limit, own: bytes) else {
                if isReceiving { memory.makeWay(besides: self) }
                return false
            }
            bytes = total
            if isReceiving, total - marked >= BodyMemory.progressStep {
                marked = total
                memory.progressed(self)
            }
            return true
        }

        /// The request body is whole: it no longer has to make way.
        func received() {
            guard isReceiving else { return }
            isReceiving = false
            memory.stopReceiving(self)
        }

        deinit {
            memory.held.wrappingSubtract(bytes, ordering: .relaxed)
            if isReceiving { memory.stopReceiving(self) }
        }
    }
}
