import Synchronization

/// Backpressure for one transfer's body, between the curl thread (producer) and
/// whoever consumes the delivered chunks.
///
/// The curl thread pauses the transfer while more than `highWater` bytes are
/// delivered but not consumed; the consumer asks for a resume once it is back under
/// `lowWater`. Each side stores its own flag or count, then loads the other's
/// (Dekker's order, all sequentially consistent), so a pause racing a consume can
/// never have both sides miss each other: either the curl thread sees the consume and
/// carries on, or the consumer sees the pause and asks for the resume.
final class BodyFlowControl: Sendable {
    static let highWater = 1 << 20
    static let lowWater = 256 << 10

    private let outstanding = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)

    /// Curl thread, for a chunk of `count` bytes. True: deliver it (it now counts as
    /// outstanding). False: the transfer is marked paused; curl must keep the chunk.
    func admit(_ count: Int) -> Bool {
        if outstanding.load(ordering: .sequentiallyConsistent) > Self.highWater {
            paused.store(true, ordering: .sequentiallyConsistent)
            if outstanding.load(ordering: .sequentiallyConsistent) > Self.highWater { return false }
            paused.store(false, ordering: .sequentiallyConsistent)
        }
        outstanding.add(count, ordering: .sequentiallyConsistent)
        return true
    }

    /// Consumer, for `count` bytes it is done with. True when it must ask the curl
    /// thread to resume the transfer.
    func consume(_ count: Int) -> Bool {
        let left = outstanding.subtract(count, ordering: .sequentiallyConsistent).newValue
        return left < Self.lowWater && paused.load(ordering: .sequentiallyConsistent)
    }

    /// Whether curl holds the transfer paused. Exact on the curl thread, the only
    /// thread that sets or clears the flag.
    var isPaused: Bool {
        paused.load(ordering: .sequentiallyConsistent)
    }

    /// Curl thread, on a resume request. True when the transfer was paused and curl
    /// must now be told to continue; false for a duplicate or stale request.
    func resume() -> Bool {
        paused.exchange(false, ordering: .sequentiallyConsistent)
    }
}
