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
/// Past `StreamedBytes`'s budget across all transfers, the high-water mark drops to
/// `tightWater`: each slow reader then holds 64 KiB of the process's memory instead of
/// 1 MiB. Only bytes beyond `tightWater` count towards the sum, so a transfer that
/// keeps up with its consumer (nearly all of them) never touches the shared counter.
final class BodyFlowControl: Sendable {
    static let highWater = 1 << 20
    static let tightWater = 64 << 10
    static let lowWater = 256 << 10

    private let outstanding = Atomic<Int>(0)
    private let paused = Atomic<Bool>(false)
    /// Set by the curl thread once the transfer has delivered its last event.
    private let finished = Atomic<Bool>(false)
    private let streamed: StreamedBytes

    init(streamed: StreamedBytes = StreamedBytes()) {
        self.streamed = streamed
    }

    /// What was delivered and never consumed (a consumer gone) leaves the sum.
    deinit {
        streamed.release(Self.beyondTight(outstanding.load(ordering: .relaxed)))
    }

    /// The part of `outstanding` that counts towards the shared sum. Each change of
    /// `outstanding` adds the change of this to the sum, computed from the values that
    /// change took it between, so the sum stays exact whichever thread moves it.
    private static func beyondTight(_ outstanding: Int) -> Int { max(0, outstanding - tightWater) }

    /// Curl thread, for a chunk of `count` bytes. True: deliver it (it now counts as
    /// outstanding). False: the transfer is marked paused; curl must keep the chunk.
    func admit(_ count: Int) -> Bool {
        if outstanding.load(ordering: .sequentiallyConsistent) > Self.tightWater {
            let limit = streamed.isOverBudget ? Self.tightWater : Self.highWater
            if outstanding.load(ordering: .sequentiallyConsistent) > limit {
                paused.store(true, ordering: .sequentiallyConsistent)
                if outstanding.load(ordering: .sequentiallyConsistent) > limit { return false }
                paused.store(false, ordering: .sequentiallyConsistent)
            }
        }
        let now = outstanding.add(count, ordering: .sequentiallyConsistent).newValue
        streamed.hold(Self.beyondTight(now) - Self.beyondTight(now - count))
        return true
    }

    /// Consumer, for `count` bytes it is done with. True when it must ask the curl
    /// thread to resume the transfer.
    func consume(_ count: Int) -> Bool {
        let left = outstanding.subtract(count, ordering: .sequentiallyConsistent).newValue
        streamed.release(Self.beyondTight(left + count) - Self.beyondTight(left))
        // Held to 64 KiB, resume a quarter of it below: at 256 KiB every chunk written
        // would resume curl and the next one pause it again.
        let resumeBelow = streamed.isOverBudget ? Self.tightWater / 4 : Self.lowWater
        return left < resumeBelow && paused.load(ordering: .sequentiallyConsistent)
    }

    /// Curl thread: nothing more will be admitted. Set before the last event is delivered.
    func finish() {
        finished.store(true, ordering: .sequentiallyConsistent)
    }

    /// Consumer: takes `count` bytes as consumed now, before they are written, when waiting
    /// could change nothing: the transfer has finished, so there is nothing to resume, and
    /// all it holds unconsumed is within `tightWater`, which the shared sum never counts.
    /// False: consume them once written, as usual.
    func consumeAtOnceIfFinished(_ count: Int) -> Bool {
        guard finished.load(ordering: .sequentiallyConsistent),
              outstanding.load(ordering: .sequentiallyConsistent) <= Self.tightWater else { return false }
        _ = consume(count)
        return true
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

/// Body bytes delivered to consumers and not yet consumed beyond the first 64 KiB of
/// each transfer, summed over every transfer of one `UpstreamClient`. One transfer's
/// share is bounded by its flow control, but not the sum: a thousand clients that stop
/// reading large pass-through answers held about a gigabyte. A pause never waits on
/// this sum, only on the transfer's own consumer, so no transfer stalls because of
/// another's reader.
final class StreamedBytes: Sendable {
    private let held = Atomic<Int>(0)
    private let limit = Atomic<Int>(.max)

    var isOverBudget: Bool { held.load(ordering: .relaxed) > limit.load(ordering: .relaxed) }

    /// Bytes held beyond each transfer's first 64 KiB now.
    var total: Int { held.load(ordering: .relaxed) }

    func setBudget(_ bytes: Int) { limit.store(bytes, ordering: .relaxed) }
    func hold(_ count: Int) { if count != 0 { held.add(count, ordering: .relaxed) } }
    func release(_ count: Int) { if count != 0 { held.subtract(count, ordering: .relaxed) } }
}
