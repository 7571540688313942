import NIOCore
@testable import SidecacheStore
import Testing

/// What an instance remembers of Redis's epoch and purge sequence, and when a read says
/// the data went back. Replies on different connections arrive in any order: a read is
/// judged by what was known when it was sent.
struct EpochSeenTests {
    typealias Seen = RedisStore.Seen
    let e1 = Seen.Epoch(ByteBuffer(repeating: 1, count: 16))
    let e2 = Seen.Epoch(ByteBuffer(repeating: 2, count: 16))
    let e3 = Seen.Epoch(ByteBuffer(repeating: 3, count: 16))

    /// `observe`, outside `#expect` (which cannot call a mutating method).
    func back(_ seen: inout Seen, _ epoch: Seen.Epoch?, sequence: UInt64?, since mark: Seen.Mark) -> Bool {
        seen.observe(epoch, sequence: sequence, since: mark)
    }

    @Test func aSequenceBelowOneKnownBeforeTheReadIsDataGoneBack() {
        var seen = Seen()
        #expect(!back(&seen, e1, sequence: 10, since: seen.mark))
        #expect(!back(&seen, e1, sequence: 12, since: seen.mark))
        #expect(!back(&seen, e1, sequence: 12, since: seen.mark))
        #expect(back(&seen, e1, sequence: 11, since: seen.mark))
    }

    @Test func aReadSentBeforeAHigherOneWasKnownIsNotJudgedByIt() {
        var seen = Seen()
        _ = seen.observe(e1, sequence: 10, since: seen.mark)
        let early = seen.mark                       // a read sent now, answered 10 or 11
        #expect(!back(&seen, e1, sequence: 12, since: seen.mark))   // another connection's, first
        #expect(!back(&seen, e1, sequence: 11, since: early))
        #expect(back(&seen, e1, sequence: 11, since: seen.mark))
    }

    @Test func theSequenceAPurgeCountedUpToCounts() {
        var seen = Seen()
        _ = seen.observe(e1, sequence: 10, since: seen.mark)
        seen.purged(to: 11, since: seen.mark)
        #expect(back(&seen, e1, sequence: 10, since: seen.mark))
    }

    @Test func anEpochLeftBeforeTheReadIsDataGoneBack() {
        var seen = Seen()
        _ = seen.observe(e1, sequence: 10, since: seen.mark)
        let early = seen.mark
        #expect(!back(&seen, e2, sequence: nil, since: seen.mark))   // restarted: a new epoch
        #expect(!back(&seen, e1, sequence: 10, since: early), "answered before the move, arriving late")
        #expect(back(&seen, e1, sequence: 10, since: seen.mark))
        // A new epoch's sequences are its own: lower than the last epoch's is fine.
        #expect(!back(&seen, e3, sequence: 3, since: seen.mark))
        #expect(!back(&seen, e3, sequence: 4, since: seen.mark))
    }

    @Test func aPurgeMadeUnderAnotherEpochRaisesNothing() {
        var seen = Seen()
        _ = seen.observe(e1, sequence: 10, since: seen.mark)
        let before = seen.mark
        _ = seen.observe(e2, sequence: 5, since: seen.mark)
        seen.purged(to: 20, since: before)
        #expect(!back(&seen, e2, sequence: 6, since: seen.mark))
    }

    /// Instances that tell data went back each replace the epoch; a reply read before
    /// this instance took the newest on, with an epoch it never saw (one replaced since),
    /// is late, not a move: taken for one, the current epoch counted as left, and the
    /// next read of it replaced it again.
    @Test func anUnseenEpochInALateReplyIsNotAMove() {
        var seen = Seen()
        _ = seen.observe(e1, sequence: 10, since: seen.mark)
        let early = seen.mark
        #expect(!back(&seen, e2, sequence: 10, since: seen.mark))
        #expect(!back(&seen, e3, sequence: 10, since: early))
        #expect(!back(&seen, e2, sequence: 11, since: seen.mark), "e2 is still the epoch")
    }
}
