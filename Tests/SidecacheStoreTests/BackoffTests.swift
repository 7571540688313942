import NIOCore
import Testing
@testable import SidecacheStore

@Suite("Redis reconnect backoff")
struct BackoffTests {
    /// DESIGN: "reconnects back off exponentially up to 2 s". With ±20 % jitter the cap
    /// reached 2.4 s; now no wait passes 2 s, the first is about 50 ms, the waits grow,
    /// and at the cap they still spread (instances do not retry in lockstep).
    @Test func waitsGrowToTwoSecondsAndNeverPast() {
        func waits(_ attempt: Int) -> [Int64] { (0..<500).map { _ in Backoff.delay(attempt: attempt).nanoseconds / 1_000_000 } }
        for attempt in 0...40 {
            let sample = waits(attempt)
            #expect(sample.allSatisfy { $0 <= 2000 }, "attempt \(attempt): longest \(sample.max()!) ms")
        }
        #expect(waits(0).allSatisfy { (40...60).contains($0) })
        #expect(waits(3).allSatisfy { (320...480).contains($0) })
        let capped = waits(30)
        #expect(capped.allSatisfy { $0 >= 1600 })
        // Spread over 1.6–2 s, not clamped: half of them at exactly 2 s would retry in lockstep.
        #expect(capped.filter { $0 < 1800 }.count > 150 && capped.filter { $0 >= 1800 }.count > 150, "waits at the cap still spread")
        #expect(capped.filter { $0 == 2000 }.count < 25)
    }
}
