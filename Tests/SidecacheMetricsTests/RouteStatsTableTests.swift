import Foundation
import SidecacheCore
@testable import SidecacheMetrics
import Testing

/// Route name → stats: registration up to the table's room, everything else counted as
/// unrouted, and lock-free updates from many threads that lose nothing.
@Suite("Route stats table: names, room, unrouted, concurrent counts")
struct RouteStatsTableTests {
    static func table(capacity: Int) -> RouteStatsTable {
        RouteStatsTable(capacity: capacity, unrouted: RouteStatsTests.stats(""))
    }

    static func register(_ names: [String], in table: RouteStatsTable) -> [String] {
        table.register(names) { RouteStatsTests.stats($0) }
    }

    @Test func registeredNamesFindTheirOwnStats() {
        let table = Self.table(capacity: 8)
        var made: [String: RouteStats] = [:]
        let refused = table.register(["users", "orders", "me"]) { name in
            let s = RouteStatsTests.stats(name)
            made[name] = s
            return s
        }
        #expect(refused.isEmpty)
        for name in ["users", "orders", "me"] {
            #expect(table.stats(for: name) === made[name], "\(name)")
        }
        // Reports (`all`) read the very stats that lookups count on.
        #expect(table.all.map(ObjectIdentifier.init) == ["users", "orders", "me"].map { ObjectIdentifier(table.stats(for: $0)) })
    }

    @Test func noRouteAndUnknownNamesAreUnrouted() {
        let table = Self.table(capacity: 8)
        _ = Self.register(["users"], in: table)
        #expect(table.stats(for: nil) === table.unrouted)
        #expect(table.stats(for: "nobody") === table.unrouted)
        #expect(table.stats(for: "") === table.unrouted)
        #expect(table.stats(for: "Users") === table.unrouted)
    }

    /// A reload names routes again: their stats (and counts) stay, only new names are made.
    @Test func registeringAgainKeepsTheFigures() {
        let table = Self.table(capacity: 8)
        _ = Self.register(["users", "orders"], in: table)
        table.stats(for: "users").request(.hit, micros: 10)
        var made: [String] = []
        let refused = table.register(["orders", "users", "me"]) { name in
            made.append(name)
            return RouteStatsTests.stats(name)
        }
        #expect(refused.isEmpty)
        #expect(made == ["me"])
        #expect(table.stats(for: "users").requests(.hit) == 1)
        #expect(table.all.map(\.name) == ["users", "orders", "me"])
    }

    /// Past its room the table refuses names: they are reported (the proxy logs them) and
    /// count as unrouted; the names it has keep working.
    @Test func namesPastTheRoomAreRefusedAndCountAsUnrouted() {
        let table = Self.table(capacity: 8)   // a power of two: the room is exactly 8
        let names = (0..<10).map { "r\($0)" }
        #expect(Self.register(names, in: table) == ["r8", "r9"])
        #expect(Self.register(["r9", "r0"], in: table) == ["r9"])
        for name in names.prefix(8) { #expect(table.stats(for: name).name == name) }
        table.stats(for: "r9").request(.miss, micros: 10)
        #expect(table.unrouted.requests(.miss) == 1)
        #expect(table.all.count == 8)
    }

    /// The room is at least the capacity asked for, and bounded (it is memory).
    @Test(arguments: [1, 5, 100, 300])
    func roomIsAtLeastTheCapacity(capacity: Int) {
        let table = Self.table(capacity: capacity)
        let names = (0..<(3 * capacity + 16)).map { "route-\($0)" }
        let refused = Self.register(names, in: table)
        let room = names.count - refused.count
        #expect(room >= capacity)
        #expect(room <= max(8, 2 * capacity))
        #expect(refused == Array(names.suffix(refused.count)))
        // Every accepted name, however its hash probed, finds its own stats.
        for name in names.prefix(room) { #expect(table.stats(for: name).name == name) }
    }

    /// Threads looking up routes by name and counting events on the same cells at once,
    /// let go together so they overlap: relaxed atomic adds, so every event is counted.
    @Test func concurrentUpdatesAddUpExactly() {
        let table = Self.table(capacity: 8)
        let names = (0..<6).map { "r\($0)" }
        _ = Self.register(names, in: table)
        let lookups: [String?] = names + [nil]   // nil: requests matching no route
        let outcomes = RouteStats.outcomes
        let threads = 4
        let perThread = 280_000   // a multiple of 7 × 4: every (name, outcome) pair gets the same share
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for _ in 0..<threads {
            done.enter()
            Thread {
                start.wait()   // all let go at once, or one may finish before the next begins
                for i in 0..<perThread {
                    let stats = table.stats(for: lookups[i % lookups.count])
                    stats.request(outcomes[i % outcomes.count], micros: 100)
                    if i % 2 == 0 { stats.bypass(.cookie) }
                    stats.coalesced()
                }
                done.leave()
            }.start()
        }
        for _ in 0..<threads { start.signal() }
        done.wait()
        let perName = threads * perThread / lookups.count
        for stats in table.all + [table.unrouted] {
            #expect(outcomes.map(stats.requests) == Array(repeating: perName / outcomes.count, count: outcomes.count), "\(stats.name)")
            #expect(stats.coalescedCount == perName, "\(stats.name)")
        }
        let bypassed = (table.all + [table.unrouted]).reduce(0) { $0 + $1.bypassCount(.cookie) }
        #expect(bypassed == threads * perThread / 2)
    }
}
