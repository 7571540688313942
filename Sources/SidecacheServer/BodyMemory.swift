import Synchronization

/// The bytes of bodies the whole process holds outside the store at once: request
/// bodies being received (they are read whole before they are forwarded) and answers
/// collected for a fill. Each is bounded by its route's size limit, but not their sum:
/// a client opening many connections could make the process hold limit × connections
/// and be killed for memory, taking every other client's answers with it
/// (`limits.bodyMemory`).
final class BodyMemory: Sendable {
    private let held = Atomic<Int>(0)

    /// Bytes held now.
    var bytes: Int { held.load(ordering: .relaxed) }

    /// A share that grows with one body and goes back when the body is let go.
    func hold(within limit: Int) -> Hold { Hold(memory: self, limit: limit) }

    /// A body alone is always taken (`own`: what it holds already), so a limit below a
    /// route's size limit slows the largest bodies down to one at a time rather than
    /// refusing them all.
    private func take(_ n: Int, within limit: Int, own: Int) -> Bool {
        let total = held.wrappingAdd(n, ordering: .relaxed).newValue
        if total <= limit || total == own + n { return true }
        held.wrappingSubtract(n, ordering: .relaxed)
        return false
    }

    /// One body's share. Given back when the hold goes, so every way a request or a
    /// fill ends (answered, stored, cut, its client gone) gives it back. `unchecked`:
    /// it grows on its exchange's loop only, and a write's callback may let the last
    /// reference go elsewhere, where `deinit` touches nothing but the atomic.
    final class Hold: @unchecked Sendable {
        private let memory: BodyMemory
        private let limit: Int
        private var bytes = 0

        fileprivate init(memory: BodyMemory, limit: Int) {
            self.memory = memory
            self.limit = limit
        }

        /// Grows the share to `total` bytes; false (the share unchanged) when the process
        /// would then hold more than the limit.
        func grow(to total: Int) -> Bool {
            guard total > bytes else { return true }
            guard memory.take(total - bytes, within: limit, own: bytes) else { return false }
            bytes = total
            return true
        }

        deinit { memory.held.wrappingSubtract(bytes, ordering: .relaxed) }
    }
}
