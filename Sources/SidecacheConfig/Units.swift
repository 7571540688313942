import SidecacheCore

/// The longest duration the config takes: ten years is longer than any ttl, timeout or
/// period means, and well inside what timers and deadlines (nanoseconds in an Int64,
/// about 292 years) hold without overflowing, which stops the process.
let longestDuration = Duration.seconds(3650 * 86_400)

/// `250ms`, `30s`, `5m`, `12h`, `1d` (the reader refuses more than `longestDuration`).
func parseDuration(_ text: String) -> Duration? {
    // A bare number is seconds (`"ttl": "3600"`), as most proxies read it; `check` shows the unit.
    if !text.isEmpty, text.allSatisfy(\.isASCIIDigit) {
        guard let n = Int64(text), n <= Int64.max / 1000 else { return nil }
        return .seconds(n)
    }
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    for (unit, ms) in units where text.hasSuffix(unit) {
        let digits = text.dropLast(unit.count)
        // "5ms" also ends in "s": only accept when what is left is all digits.
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let n = Int64(digits), n <= Int64.max / ms else { continue }
        return .milliseconds(n * ms)
    }
    return nil
}

/// `0`, `512KiB`, `8MiB`, `1GiB` (also `B`).
func parseSize(_ text: String) -> Int? {
    if text == "0" { return 0 }
    for (unit, factor) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1)] where text.hasSuffix(unit) {
        let digits = text.dropLast(unit.count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let n = Int(digits), n <= Int.max / factor else { return nil }
        return n * factor
    }
    return nil
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// `N/period`, e.g. `1/1h`: at most N in each period.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var count: Int
    public var period: Duration

    static func parse(_ text: String) -> RateLimit? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0]), n > 0, let d = parseDuration(String(parts[1])), d > .zero,
              d <= longestDuration else { return nil }
        return RateLimit(count: n, period: d)
    }

    public var description: String { "\(count)/\(formatDuration(period))" }
}
