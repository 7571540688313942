import Synchronization

/// The last few minutes of each route's traffic, for the status page: every `record`
/// (the admin listener calls it every 10 s) keeps one sample of each route's cumulative
/// latency histogram (every finished request is in one cell of it), and the figures of
/// an interval are the difference of two samples. Bounded: `capacity` samples, a few
/// hundred bytes a route each.
public final class TrafficHistory: Sendable {
    /// One route over one interval.
    public struct Interval: Sendable {
        public var requests: Int
        /// Nil when the interval had no request.
        public var p50Ms: Double?
        public var p99Ms: Double?
    }

    /// Per route, its request latency cells summed over the cache outcomes.
    private typealias Sample = [String: [Int]]

    public let capacity: Int
    private let samples = Mutex<[Sample]>([])

    public init(capacity: Int = 31) { self.capacity = capacity }

    /// Takes a sample of every route of `metrics` now.
    public func record(_ metrics: ProxyMetrics, routes names: [String]) {
        var sample: Sample = [:]
        for name in names {
            let stats = metrics.routes.stats(for: name)
            var latency = [Int](repeating: 0, count: LatencyBuckets.count)
            for outcome in RouteStats.outcomes {
                for (i, n) in stats.requestBuckets(outcome).enumerated() { latency[i] += n }
            }
            sample[name] = latency
        }
        samples.withLock { s in
            s.append(sample)
            if s.count > capacity { s.removeFirst(s.count - capacity) }
        }
    }

    /// `route`'s intervals between consecutive samples, oldest first.
    public func intervals(route: String) -> [Interval] {
        let s = samples.withLock { $0 }
        return zip(s, s.dropFirst()).map { Self.interval(route, from: $0, to: $1) }
    }

    /// `route` over the whole window (the oldest sample to the newest); nil before two samples.
    public func window(route: String) -> Interval? {
        let s = samples.withLock { $0 }
        guard let first = s.first, let last = s.last, s.count > 1 else { return nil }
        return Self.interval(route, from: first, to: last)
    }

    /// The time between the oldest and the newest sample, given the sampling period.
    public func span(period: Duration) -> Duration { period * max(0, samples.withLock { $0.count } - 1) }

    private static func interval(_ route: String, from before: Sample, to after: Sample) -> Interval {
        let a = before[route] ?? []
        let b = after[route] ?? []
        let latency = b.indices.map { b[$0] - (a.indices.contains($0) ? a[$0] : 0) }
        return Interval(requests: latency.reduce(0, +),
                        p50Ms: LatencyBuckets.quantile(0.5, counts: latency),
                        p99Ms: LatencyBuckets.quantile(0.99, counts: latency))
    }
}
