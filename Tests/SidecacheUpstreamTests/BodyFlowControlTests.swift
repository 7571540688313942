import Testing
@testable import SidecacheUpstream

@Suite struct BodyFlowControlTests {
    private let high = BodyFlowControl.highWater
    private let low = BodyFlowControl.lowWater

    @Test func deliversUntilPastHighWaterThenPauses() {
        let flow = BodyFlowControl()
        #expect(flow.admit(high))  // exactly at high water is still fine
        #expect(flow.admit(1))     // the count was not above high water yet
        #expect(!flow.admit(1))    // now it is: pause
    }

    @Test func consumerAsksForResumeOnlyBelowLowWaterWhilePaused() {
        let flow = BodyFlowControl()
        #expect(flow.admit(high + 1))
        #expect(!flow.consume(1))  // not paused: nothing to resume
        #expect(flow.admit(1))
        #expect(!flow.admit(1))    // paused
        #expect(!flow.consume(high + 1 - low))  // at low water exactly: not yet
        #expect(flow.consume(1))   // below: resume
        #expect(flow.resume())
        #expect(!flow.resume())    // a duplicate request is a no-op
    }

    @Test func consumeBeforeThePauseTakesHoldLetsCurlCarryOn() {
        // The consumer drained before the curl thread looked again: the consumer saw
        // no pause (so asks for no resume), and the curl thread must not pause.
        let flow = BodyFlowControl()
        #expect(flow.admit(high + 1))
        #expect(!flow.consume(high + 1))
        #expect(flow.admit(10))
        #expect(!flow.resume())  // never paused
    }

    /// A finished transfer's bytes need not wait for their write when nothing waits on
    /// them: there is nothing left to resume, and within 64 KiB the shared sum holds none.
    @Test func aFinishedTransferWithinSixtyFourKiBIsConsumedAtOnce() {
        let tight = BodyFlowControl.tightWater
        let streamed = StreamedBytes()
        let small = BodyFlowControl(streamed: streamed)
        #expect(small.admit(1000))
        #expect(!small.consumeAtOnceIfFinished(1000), "still delivering: consumed once written")
        small.finish()
        #expect(small.consumeAtOnceIfFinished(1000))
        let large = BodyFlowControl(streamed: streamed)
        #expect(large.admit(tight + 1))
        large.finish()
        #expect(!large.consumeAtOnceIfFinished(tight + 1), "beyond 64 KiB its bytes count until written")
        #expect(streamed.total == 1)
        #expect(!large.consume(tight + 1))
        #expect(streamed.total == 0)
    }

    /// Past the budget across transfers, each pauses past 64 KiB instead of 1 MiB. Only
    /// what a transfer holds beyond 64 KiB counts, and what it never saw consumed leaves
    /// the sum with it.
    @Test func pastTheSharedBudgetEachTransferKeepsLessAhead() {
        let tight = BodyFlowControl.tightWater
        let streamed = StreamedBytes()
        streamed.setBudget(100 << 10)
        let first = BodyFlowControl(streamed: streamed)
        #expect(first.admit(200 << 10))   // under the budget when it came
        #expect(streamed.total == (200 << 10) - tight)
        do {
            let second = BodyFlowControl(streamed: streamed)
            #expect(second.admit(tight))
            #expect(streamed.total == (200 << 10) - tight, "64 KiB ahead counts for nothing")
            #expect(second.admit(1))
            #expect(!second.admit(1), "past the budget in all: paused past 64 KiB")
            #expect(streamed.total == (200 << 10) - tight + 1)
            #expect(!second.consume(tight - tight / 4), "held to 64 KiB: not resumed at 16 KiB left")
            #expect(second.consume(2), "resumed below a quarter of it")
            withExtendedLifetime(second) {}
        }
        #expect(streamed.total == (200 << 10) - tight, "the second's share went with it")
        #expect(!first.consume(150 << 10))
        #expect(streamed.total == 0)
        #expect(!first.consume(50 << 10))
        #expect(streamed.total == 0)
        #expect(first.admit(tight + 1))
        #expect(first.admit(1), "under the budget again: 1 MiB ahead")
        #expect(streamed.total == 2)
    }
}
