/// Wall-clock time in milliseconds since the Unix epoch.
///
/// Cache entries outlive processes (they are shared through Redis), so their
/// timestamps are wall-clock, not process-monotonic. Every decision in the core
/// takes `now` as an argument; only the I/O rooms read a clock.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public init(seconds: Int64) { self.milliseconds = seconds &* 1000 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }
    public static func + (t: Timestamp, d: Duration) -> Timestamp { Timestamp(milliseconds: t.milliseconds &+ d.milliseconds) }
    public static func - (t: Timestamp, d: Duration) -> Timestamp { Timestamp(milliseconds: t.milliseconds &- d.milliseconds) }
    public static func - (a: Timestamp, b: Timestamp) -> Duration { .milliseconds(a.milliseconds &- b.milliseconds) }

    public var description: String { "\(milliseconds)ms" }
}

extension Duration {
    /// Whole milliseconds, truncated; the unit every stored deadline uses.
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s &* 1000 &+ atto / 1_000_000_000_000_000
    }
}

/// Where time comes from. The server reads the system clock; tests drive a manual one.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}
