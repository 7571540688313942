import NIOCore

/// How long to wait before trying Redis again after `attempt` failures in a row:
/// exponential from 50 ms up to 2 s (DESIGN: "reconnects back off exponentially up to
/// 2 s"), with ±20 % jitter so instances do not retry in lockstep. Reconnects and
/// journal replays both use it.
enum Backoff {
    static func delay(attempt: Int) -> TimeAmount {
        let base = min(2000.0, 50.0 * (attempt >= 16 ? 65536 : Double(1 << max(0, attempt))))
        return .milliseconds(Int64(base * Double.random(in: 0.8...1.2)))
    }
}
