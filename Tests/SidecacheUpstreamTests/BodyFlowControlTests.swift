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
}
