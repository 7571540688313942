/// Fixed exponential latency buckets (×1.5 from 25 µs to about 2 minutes, then
/// overflow) and percentile estimates from their counts. Fixed buckets keep memory
/// bounded per route and make recording one atomic add; the price is resolution: an
/// estimate is within one bucket (±25 %) of the true value.
public enum LatencyBuckets {
    /// Upper bounds in microseconds; the last cell counts everything above the last bound.
    static let bounds: [Int64] = {
        var out: [Int64] = []
        var b = 25.0
        while b < 120_000_000 {
            out.append(Int64(b.rounded()))
            b *= 1.5
        }
        return out
    }()

    /// Cells per histogram: one per bound plus overflow.
    static let count = bounds.count + 1

    /// The cell for `micros` (binary search: about six comparisons).
    @inline(__always)
    static func index(micros: Int64) -> Int {
        var lo = 0, hi = bounds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bounds[mid] < micros { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The `q` quantile (0...1) in milliseconds, interpolated linearly inside its bucket;
    /// nil without samples. Overflow samples report the last bound.
    static func quantile(_ q: Double, counts: [Int]) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var seen = 0
        for (i, n) in counts.enumerated() where n > 0 {
            if Double(seen + n) >= rank {
                let lower = i == 0 ? 0 : Double(bounds[i - 1])
                let upper = i < bounds.count ? Double(bounds[i]) : lower
                let fraction = min(1, max(0, (rank - Double(seen)) / Double(n)))
                return (lower + (upper - lower) * fraction) / 1000
            }
            seen += n
        }
        return Double(bounds[bounds.count - 1]) / 1000
    }
}
