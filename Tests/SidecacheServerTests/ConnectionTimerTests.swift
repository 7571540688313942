import NIOCore
import Testing
@testable import SidecacheServer

/// The connection timer's decisions as plain values (Hardening II §2: a timer re-armed
/// for a moment already past fires at once, forever, and pins a core).
@Suite struct ConnectionTimerTests {
    static let idle = TimeAmount.seconds(60)
    static let headLimit = TimeAmount.seconds(10)
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func decide(_ phase: ConnectionTimer.Phase, after elapsed: TimeAmount, headFor: TimeAmount? = nil) -> ConnectionTimer.Verdict {
        let now = start + elapsed
        return ConnectionTimer.decide(phase, now: now, lastActivity: start, headStarted: headFor.map { now - $0 },
                                      idle: idle, headLimit: headLimit)
    }

    @Test(arguments: [
        (ConnectionTimer.Phase.idle, TimeAmount.seconds(61), ConnectionTimer.Verdict.closeAfterFlush),
        (.receiving, .seconds(61), .closeAfterFlush),
        (.responding(writable: false), .seconds(61), .cutOff),
        (.closing, .seconds(61), .cutOff),
    ])
    func pastTheIdleTimeout(phase: ConnectionTimer.Phase, elapsed: TimeAmount, verdict: ConnectionTimer.Verdict) {
        #expect(Self.decide(phase, after: elapsed) == verdict)
    }

    /// An answer still being written (or awaited from the upstream) is not idle, however
    /// long it lasts, and the next look is always ahead of now.
    @Test(arguments: [TimeAmount.seconds(61), .seconds(600), .hours(5)])
    func aLongAnswerIsNotIdleAndNeverRearmsInThePast(elapsed: TimeAmount) {
        let now = Self.start + elapsed
        guard case .next(let deadline) = Self.decide(.responding(writable: true), after: elapsed) else {
            Issue.record("a writable answer was closed")
            return
        }
        #expect(deadline > now)
    }

    @Test func aTrickledHeadIsCutAtTheHeaderTimeout() {
        #expect(Self.decide(.idle, after: .seconds(11), headFor: .seconds(11)) == .closeAfterFlush)
        guard case .next = Self.decide(.idle, after: .seconds(9), headFor: .seconds(9)) else {
            Issue.record("a head within its limit was cut")
            return
        }
    }

    @Test(arguments: [TimeAmount.zero, .seconds(30), .seconds(59), .seconds(61), .hours(1)])
    func theNextLookIsAheadOfNowAndWithinHalfTheHeaderTimeout(elapsed: TimeAmount) {
        let now = Self.start + elapsed
        let next = ConnectionTimer.nextCheck(now: now, lastActivity: Self.start, idle: Self.idle, headLimit: Self.headLimit)
        #expect(next > now)
        #expect(next <= now + .seconds(5))
    }
}
