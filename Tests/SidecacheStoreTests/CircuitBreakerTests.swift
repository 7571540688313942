import NIOCore
import Testing
@testable import SidecacheStore

@Suite struct CircuitBreakerTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func opensAfterThresholdFailuresInARow() {
        var b = CircuitBreaker(threshold: 3, initialCoolDown: .milliseconds(100))
        let r1 = b.failed(now: t0)
        #expect(!r1)
        let r2 = b.failed(now: t0)
        #expect(!r2)
        let r3 = b.allow(now: t0)
        #expect(r3)
        let r4 = b.failed(now: t0)
        #expect(r4)          // third failure opens it
        #expect(b.label == "open")
        let r5 = b.allow(now: t0 + .milliseconds(50))
        #expect(!r5)
    }

    /// `wouldAllow` says what `allow` would, without taking the probe.
    @Test func wouldAllowAsksWithoutMoving() {
        var b = CircuitBreaker(threshold: 1, initialCoolDown: .milliseconds(100))
        #expect(b.wouldAllow(now: t0))
        _ = b.failed(now: t0)
        #expect(!b.wouldAllow(now: t0 + .milliseconds(50)))
        #expect(b.wouldAllow(now: t0 + .milliseconds(100)) && b.label == "open")
        #expect(b.allow(now: t0 + .milliseconds(100)) && b.label == "half-open")
        #expect(!b.wouldAllow(now: t0 + .milliseconds(200)), "one probe at a time")
    }

    @Test func aSuccessResetsTheCount() {
        var b = CircuitBreaker(threshold: 3)
        _ = b.failed(now: t0)
        _ = b.failed(now: t0)
        let r6 = b.succeeded()
        #expect(!r6)
        _ = b.failed(now: t0)
        #expect(b.label == "closed")
    }

    @Test func halfOpenLetsOneProbeThrough() {
        var b = CircuitBreaker(threshold: 1, initialCoolDown: .milliseconds(100))
        _ = b.failed(now: t0)
        let later = t0 + .milliseconds(100)
        let r7 = b.allow(now: later)
        #expect(r7)        // the probe
        #expect(b.label == "half-open")
        let r8 = b.allow(now: later)
        #expect(!r8)       // nobody else meanwhile
        let r9 = b.succeeded()
        #expect(r9)              // the probe closed it
        let r10 = b.allow(now: later)
        #expect(r10)
    }

    @Test func failedProbesDoubleTheCoolDownUpToTheMaximum() {
        var b = CircuitBreaker(threshold: 1, initialCoolDown: .milliseconds(100), maxCoolDown: .milliseconds(300))
        var now = t0
        _ = b.failed(now: now)
        var waits: [Int64] = []
        for _ in 0..<4 {
            var wait: Int64 = 0
            while !b.allow(now: now + .milliseconds(wait)) { wait += 10 }
            waits.append(wait)
            now = now + .milliseconds(wait)
            _ = b.failed(now: now)   // the probe fails
        }
        #expect(waits == [100, 200, 300, 300])
    }
}
