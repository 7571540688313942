import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Synchronization
import Testing

/// A strict L1 hit asks for its key's purge scopes only when its confirmation fails and
/// L2 is read (they cost a hit 1 700 of its 64 000 instructions).
@Suite("Tiered store: purge scopes asked for when needed")
struct LazyScopesTests {
    typealias T = TieredStoreTests

    final class Asked: Sendable {
        let count = Atomic<Int>(0)
        var scopes: @Sendable () -> [UInt64] {
            { [self] in
                count.add(1, ordering: .relaxed)
                return T.scopes
            }
        }
    }

    @Test func aConfirmedHitAsksNothingAndAFailedOneReadsL2WithThem() async throws {
        try await T.withPair(consistency: .strict) { a, b, _ in
            _ = try await T.fill(a, "v1")
            let asked = Asked()
            func lookup() async throws -> Lookup {
                try await b.lookup(T.key, now: ManualClock.realNow(), on: T.loop).value(scopes: asked.scopes)
            }
            #expect(T.text(try await lookup()) == "v1")
            #expect(asked.count.load(ordering: .relaxed) == 1, "an L1 miss reads L2 with them")
            #expect(b.memory.entryCount == 1)
            #expect(T.text(try await lookup()) == "v1")
            #expect(asked.count.load(ordering: .relaxed) == 1, "confirmed: not asked")
            try await a.purge([SoftPurgeStoreTests.path], on: T.loop).value()
            _ = try await T.fill(a, "v2")
            #expect(T.text(try await lookup()) == "v2", "purged since: L2 read again, under the scopes")
            #expect(asked.count.load(ordering: .relaxed) == 2)
        }
    }
}
