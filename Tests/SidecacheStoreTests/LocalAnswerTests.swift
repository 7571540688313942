import Logging
import NIOCore
import SidecacheCore
@testable import SidecacheStore
import SidecacheTestSupport
import Testing

/// `localAnswer`, the hit path's lookup (`FreshHit`): it answers only what `lookup`
/// would answer at once and as it is, and leaves every other case to `lookup`: a
/// purged or soft-purged entry, an entry strict mode must confirm first, no L1.
@Suite("Tiered store: the hit path's L1 answer")
struct LocalAnswerTests {
    typealias T = TieredStoreTests

    static func local(_ store: TieredStore) -> String? {
        store.localAnswer(T.key, now: ManualClock.realNow()).map { String(buffer: $0.body) }
    }

    static func memoryOnly(bytes: Int = 1 << 20) -> TieredStore {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return TieredStore(options: StoreOptions(memoryBytes: bytes), loops: [T.loop], logger: logger)
    }

    @Test func anEntryIsAnsweredUntilAPurgeCoversIt() async throws {
        let store = Self.memoryOnly()
        #expect(Self.local(store) == nil)
        _ = try await T.fill(store, "v1")
        #expect(Self.local(store) == "v1")
        let entry = try #require(store.localAnswer(T.key, now: ManualClock.realNow()))
        #expect(store.lookup(ofLocal: entry).sharedGuard == nil, "no Redis: no counters")
        try await store.purge([SoftPurgeStoreTests.path], on: T.loop).value()
        #expect(Self.local(store) == nil)
        #expect(try await T.lookup(store).entry == nil)
    }

    /// Served stale since the purge: the exchange's decision (and its revalidation), not the hit path's.
    @Test func aSoftPurgedEntryIsLeftToTheLookup() async throws {
        let store = Self.memoryOnly()
        _ = try await T.fill(store, "v1")
        try await store.softPurge([SoftPurgeStoreTests.path], at: SoftPurgeStoreTests.now(), on: T.loop).value()
        #expect(Self.local(store) == nil)
        let found = try await T.lookup(store)
        #expect(T.text(found) == "v1" && found.staleSince != nil)
    }

    @Test func anEntryInFastModesL1IsAnsweredButNotInStrictMode() async throws {
        try await T.withPair(consistency: .fast) { a, _, _ in
            _ = try await T.fill(a, "v1")
            #expect(Self.local(a) == "v1")
            let entry = try #require(a.localAnswer(T.key, now: ManualClock.realNow()))
            let found = a.lookup(ofLocal: entry)
            let looked = try await T.lookup(a)
            #expect(found.sharedGuard != nil && found.sharedGuard == looked.sharedGuard,
                    "the counters a fill must be stored under, as lookup gives them")
        }
        try await T.withPair(consistency: .strict) { a, _, _ in
            _ = try await T.fill(a, "v1")
            #expect(a.memory.entryCount == 1)
            #expect(Self.local(a) == nil, "strict: Redis confirms an L1 entry before it is served")
            #expect(T.text(try await T.lookup(a)) == "v1")
        }
    }

    @Test func noL1AnswersNothing() async throws {
        let store = Self.memoryOnly(bytes: 0)
        #expect(!store.answersLocally)
        _ = try await T.fill(store, "v1")
        #expect(Self.local(store) == nil)
    }
}
