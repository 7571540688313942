import Testing

/// The suites that start whole Redis deployments (a cluster of 3–6 servers resharded
/// under traffic, a master with a replica and three sentinels): one at a time, so on a
/// two-core machine they do not starve each other, nor the timing of the rest of the
/// run, of CPU.
@Suite("Redis topologies", .serialized)
enum RedisTopologies {}
