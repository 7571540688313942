@testable import SidecacheMetrics
import Testing

@Suite("Latency buckets: percentiles within a bucket of the truth")
struct LatencyBucketsTests {
    @Test(arguments: [(0.5, 1.0), (0.9, 1.0), (0.99, 100.0)])
    func percentilesComeFromTheBuckets(q: Double, expectedMs: Double) {
        var counts = [Int](repeating: 0, count: LatencyBuckets.count)
        counts[LatencyBuckets.index(micros: 1000)] += 98     // 98 × 1 ms
        counts[LatencyBuckets.index(micros: 100_000)] += 2   // 2 × 100 ms
        let estimate = LatencyBuckets.quantile(q, counts: counts)!
        #expect(abs(estimate - expectedMs) / expectedMs < 0.5, "\(estimate)")
        #expect(LatencyBuckets.quantile(q, counts: [Int](repeating: 0, count: LatencyBuckets.count)) == nil)
    }
}
