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
///
/// Past `StreamedBytes.budget` outstanding across all transfers, the high-water mark
/// drops to `tightWater`: each slow reader then holds 64 KiB of the process's memory
/// instead of 1 MiB.
final class BodyFlowControl: Sendable {
    static let highWater = 1 << 20
    static let tightWater = 64 << 10
    static let lowWater = 256 << 10

    private let outstanding = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)
    private let streamed: StreamedBytes

    init(streamed: StreamedBytes = StreamedBytes()) {
        self.streamed = streamed
    }

    /// What was delivered and never consumed (a consumer gone) leaves the sum.
    deinit {
        streamed.release(outstanding.load(ordering: .relaxed))
    }

    /// Curl thread, for a chunk of `count` bytes. True: deliver it (it now counts as
    /// outstanding). False: the transfer is marked paused; curl must keep the chunk.
    func admit(_ count: Int) -> Bool {
        let limit = streamed.isOverBudget ? Self.tightWater : Self.highWater
        if outstanding.load(ordering: .sequentiallyConsistent) > limit {
            paused.store(true, ordering: .sequentiallyConsistent)
            if outstanding.load(ordering: .sequentiallyConsistent) > limit { return false }
            paused.store(false, ordering: .sequentiallyConsistent)
        }
        outstanding.add(count, ordering: .sequentiallyConsistent)
        streamed.hold(count)
        return true
    }

    /// Consumer, for `count` bytes it is done with. True when it must ask the curl
    /// thread to resume the transfer.
    func consume(_ count: Int) -> Bool {
        streamed.release(count)
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

/// Body bytes delivered to consumers and not yet consumed, summed over every transfer
/// of one `UpstreamClient`. One transfer's share is bounded by its flow control, but not
/// the sum: a thousand clients that stop reading large pass-through answers held about
/// a gigabyte. A pause never waits on this sum, only on the transfer's own consumer, so
/// no transfer stalls because of another's reader.
final class StreamedBytes: Sendable {
    private let held = Atomic<Int>(0)
    private let limit = Atomic<Int>(.max)

    var isOverBudget: Bool { held.load(ordering: .relaxed) > limit.load(ordering: .relaxed) }

    /// Bytes outstanding now.
    var total: Int { held.load(ordering: .relaxed) }

    func setBudget(_ bytes: Int) { limit.store(bytes, ordering: .relaxed) }
    func hold(_ count: Int) { held.add(count, ordering: .relaxed) }
    func release(_ count: Int) { if count != 0 { held.subtract(count, ordering: .relaxed) } }
}
