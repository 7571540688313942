import NIOCore

/// How long to wait before trying Redis again after `attempt` failures in a row:
/// exponential from 50 ms up to 2 s (DESIGN: "reconnects back off exponentially up to
/// 2 s"), with ±20 % jitter so instances do not retry in lockstep. Reconnects and
/// journal replays both use it. At the cap the jitter only shortens the wait: 2.4 s
/// would break the contract's bound (the test-quality audit).
enum Backoff {
    static let cap = 2000.0

    static func delay(attempt: Int) -> TimeAmount {
        let base = min(cap, 50.0 * (attempt >= 16 ? 65536 : Double(1 << max(0, attempt))))
        let jittered = base * Double.random(in: 0.8...1.2)
        return .milliseconds(Int64(jittered <= cap ? jittered : cap * Double.random(in: 0.8...1.0)))
    }
}
