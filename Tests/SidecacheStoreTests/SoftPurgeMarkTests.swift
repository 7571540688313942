import SidecacheCore
@testable import SidecacheStore
import Testing

/// How a soft purge is told from a hard one in Redis (`SoftPurgeMark`), and the purge
/// channel's message (`PurgeMessage`): pure, no Redis.
@Suite("Soft purge marks")
struct SoftPurgeMarkTests {
    static let epoch: [UInt8] = Array(repeating: 7, count: 16)

    static func generations(_ values: [(UInt64, UInt64)], epoch: [UInt8] = epoch) -> EntryCodec.Generations {
        EntryCodec.Generations(epoch: epoch, values: values.map { (scope: $0.0, value: $0.1) })
    }

    @Test func theStoredFormParsesAndRefusesWhatSoftBumpNeverWrites() {
        #expect(SoftPurgeMark("100 102 1700000000000") == SoftPurgeMark(from: 100, to: 102, at: Timestamp(milliseconds: 1_700_000_000_000)))
        for bad in ["", "100 102", "102 100 5", "100 100 5", "a 102 5", "100 102 x", "100 102 5 6"] {
            #expect(SoftPurgeMark(bad) == nil, "\(bad)")
        }
    }

    @Test func aMarkCoversOnlyFillsInsideItsRunAndOnlyWhileTheCounterStaysAtItsEnd() {
        let mark = SoftPurgeMark(from: 100, to: 102, at: Timestamp(milliseconds: 9))
        #expect(mark.covers(filled: 100, current: 102))
        #expect(mark.covers(filled: 101, current: 102), "filled between two soft purges")
        #expect(!mark.covers(filled: 99, current: 102), "filled before a hard purge that preceded the run")
        #expect(!mark.covers(filled: 100, current: 103), "a hard purge after the run")
        #expect(!mark.covers(filled: 102, current: 102), "not moved: not the mark's to decide")
    }

    @Test func anEntryIsStaleSinceTheLatestSoftPurgeOfEveryCounterThatMoved() {
        let filled = Self.generations([(1, 10), (2, 50), (3, 80)])
        let now = Self.generations([(1, 10), (2, 51), (3, 82)])
        let marks: [UInt64: SoftPurgeMark] = [2: SoftPurgeMark(from: 50, to: 51, at: Timestamp(milliseconds: 1_000)),
                     3: SoftPurgeMark(from: 79, to: 82, at: Timestamp(milliseconds: 3_000))]
        #expect(SoftPurgeMark.moved(filled, now) == [2, 3])
        #expect(SoftPurgeMark.staleSince(filledUnder: filled, current: now, marks: marks) == Timestamp(milliseconds: 3_000))
    }

    @Test func anyMoveWithoutACoveringMarkIsAHardPurge() {
        let filled = Self.generations([(1, 10), (2, 50)])
        let now = Self.generations([(1, 11), (2, 51)])
        let soft2 = SoftPurgeMark(from: 50, to: 51, at: Timestamp(milliseconds: 1_000))
        #expect(SoftPurgeMark.staleSince(filledUnder: filled, current: now, marks: [2: soft2]) == nil, "scope 1 has no mark")
        let otherEpoch = Self.generations([(1, 10), (2, 51)], epoch: Array(repeating: 8, count: 16))
        #expect(SoftPurgeMark.staleSince(filledUnder: filled, current: otherEpoch, marks: [2: soft2]) == nil)
        let otherScopes = Self.generations([(1, 10), (4, 51)])
        #expect(SoftPurgeMark.staleSince(filledUnder: filled, current: otherScopes, marks: [4: soft2]) == nil)
        #expect(SoftPurgeMark.staleSince(filledUnder: filled, current: filled, marks: [:]) == nil, "nothing moved")
    }

    @Test func purgeMessagesRoundTripAndAnUnreadableSoftPrefixIsHard() {
        let hard = PurgeMessage(ids: [1, 0xabc], softAt: nil)
        #expect(hard.payload == "0000000000000001,0000000000000abc")
        #expect(PurgeMessage(payload: hard.payload) == hard)
        let soft = PurgeMessage(ids: [0xabc], softAt: Timestamp(milliseconds: 1_700_000_000_123))
        #expect(soft.payload == "stale@1700000000123:0000000000000abc")
        #expect(PurgeMessage(payload: soft.payload) == soft)
        #expect(PurgeMessage(payload: "stale@x:0000000000000abc") == PurgeMessage(ids: [0xabc], softAt: nil))
        #expect(PurgeMessage(payload: "nonsense").ids.isEmpty)
    }
}
