import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Testing

/// Soft purges (`"mode": "stale"`) through a real redis-server, two stores playing two
/// instances: what one soft-purges every one serves stale since then, until one
/// refresh replaces it; a hard purge, or any doubt, still removes.
@Suite("Tiered store: soft purge in Redis")
struct SoftPurgeStoreTests {
    typealias T = TieredStoreTests
    static let path = PurgeScope.path("/x/1")

    /// Within a millisecond of now, as the marks store it.
    static func now() -> Timestamp { Timestamp(milliseconds: ManualClock.realNow().milliseconds) }

    @Test(arguments: [Consistency.strict, .fast])
    func everyInstanceServesTheEntryStaleSinceTheSoftPurgeUntilOneRefreshReplacesIt(consistency: Consistency) async throws {
        try await T.withPair(consistency: consistency) { a, b, _ in
            _ = try await T.fill(a, "v1")
            #expect(T.text(try await T.lookup(b)) == "v1")   // B holds an L1 copy
            let at = Self.now()
            try await a.softPurge([Self.path], at: at, on: T.loop).value()
            let onA = try await T.lookup(a)
            #expect(T.text(onA) == "v1" && onA.staleSince == at)
            // Fast mode: B's L1 hears of it through the purge channel.
            #expect(try await eventually { try await T.lookup(b).staleSince == at })
            let stale = try await T.lookup(b)
            #expect(T.text(stale) == "v1")
            #expect(stale.sharedGuard != stale.entry?.generations, "the refresh is stored under the counters now")
            #expect(try await T.commit(b, "v2", under: b.beginFill(shared: stale.sharedGuard)).outcome == .stored)
            let refreshed = try await T.lookup(a)
            #expect(T.text(refreshed) == "v2" && refreshed.staleSince == nil)
        }
    }

    /// The mark records only the run of soft steps since the last hard one: an entry
    /// filled before a hard purge stays gone, whatever soft purges follow.
    @Test func aHardPurgeBetweenTwoSoftOnesIsNotForgotten() async throws {
        try await T.withPair { a, b, _ in
            _ = try await T.fill(a, "v1")
            try await a.softPurge([Self.path], at: Self.now(), on: T.loop).value()
            try await b.purge([Self.path], on: T.loop).value()
            try await b.softPurge([Self.path], at: Self.now(), on: T.loop).value()
            #expect(try await T.lookup(b).entry == nil)
            #expect(try await T.lookup(a).entry == nil)
        }
    }

    @Test func twoSoftPurgesInARowLeaveTheEntryStaleSinceTheLatest() async throws {
        try await T.withPair { a, b, _ in
            _ = try await T.fill(a, "v1")
            let first = Self.now()
            try await a.softPurge([Self.path], at: first, on: T.loop).value()
            let second = first + .milliseconds(500)
            try await b.softPurge([Self.path, .route("r")], at: second, on: T.loop).value()
            let found = try await T.lookup(b)
            #expect(T.text(found) == "v1" && found.staleSince == second)
        }
    }

    /// The answer to a fill that began before the soft purge is what it made stale.
    @Test func aFillThatASoftPurgeOvertookIsNotStored() async throws {
        try await T.withPair { a, b, _ in
            let found = try await T.lookup(a)
            let fill = a.beginFill(shared: found.sharedGuard)
            try await b.softPurge([Self.path], at: Self.now(), on: T.loop).value()
            #expect(try await T.commit(a, "old", under: fill).outcome == .purged)
            #expect(try await T.lookup(b).entry == nil)
        }
    }

    /// A lost mark (eviction, `DEL`) can only make a soft purge hard.
    @Test func aLostMarkMakesTheSoftPurgeHard() async throws {
        try await T.withPair { a, b, redis in
            _ = try await T.fill(a, "v1")
            try await a.softPurge([Self.path], at: Self.now(), on: T.loop).value()
            let marks = try await redis.cli("KEYS", "sidecache:s:*").split(separator: "\n").map(String.init)
            #expect(marks.count == 1, "one mark, for the one scope purged: \(marks)")
            #expect(T.text(try await T.lookup(b)) == "v1")
            for mark in marks { _ = try await redis.cli("DEL", mark) }
            #expect(try await T.lookup(b).entry == nil)
        }
    }
}
