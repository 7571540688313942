import Testing
@testable import SidecacheCore

@Suite struct CacheStatusTests {
    @Test func fieldValues() {
        #expect(CacheStatusField.hit(ttl: .seconds(287)) == "sidecache; hit; ttl=287")
        #expect(CacheStatusField.hit(ttl: .milliseconds(-3500)) == "sidecache; hit; ttl=-3")
        #expect(CacheStatusField.miss(stored: true) == "sidecache; fwd=uri-miss; stored")
        #expect(CacheStatusField.miss(stored: false, notStored: .setCookie) == "sidecache; fwd=uri-miss; detail=set-cookie")
        #expect(CacheStatusField.miss(stored: false) == "sidecache; fwd=uri-miss")
        #expect(CacheStatusField.missStoredLocally == "sidecache; fwd=uri-miss; stored; detail=l1-only")
        #expect(CacheStatusField.bypass(.authorization) == "sidecache; fwd=bypass; detail=authorization")
    }

    /// What warming reads from its answer: in the store after a fill that stored, a hit,
    /// a 304's renewal; not after a fill kept out or a bypass, whatever the detail says.
    @Test func inStore() {
        for value in [CacheStatusField.miss(stored: true), CacheStatusField.missStoredLocally, CacheStatusField.hit(ttl: .seconds(3)),
                      CacheStatusField.revalidated(ttl: .seconds(3))] {
            #expect(CacheStatusField.inStore(value), "\(value)")
        }
        for value in [CacheStatusField.miss(stored: false), CacheStatusField.miss(stored: false, notStored: .noStore),
                      CacheStatusField.bypass(.authorization), "", "stored", "sidecache; fwd=uri-miss; detail=stored"] {
            #expect(!CacheStatusField.inStore(value), "\(value)")
        }
    }

    @Test func notStoredReadsTheDetail() {
        #expect(CacheStatusField.notStored(CacheStatusField.miss(stored: false, notStored: .purged)) == .purged)
        #expect(CacheStatusField.notStored(CacheStatusField.miss(stored: false, notStored: .noStore)) == NotStoredReason.noStore)
        #expect(CacheStatusField.notStored(CacheStatusField.miss(stored: true)) == nil)
        #expect(CacheStatusField.notStored(CacheStatusField.bypass(.cookie)) == nil, "a bypass reason is no NotStoredReason")
        #expect(NotStoredReason.allCases.filter(\.passes) == [.purged, .storeUnavailable, .bodyMemory])
    }

    @Test func labels() {
        #expect(CacheOutcome.allCases.map(\.rawValue) == ["HIT", "MISS", "STALE", "BYPASS"])
        #expect(CacheOutcome.allCases.map(\.label) == ["hit", "miss", "stale", "bypass"])
        // Metric labels: lowercase, no spaces.
        for label in BypassReason.allCases.map(\.rawValue) + NotStoredReason.allCases.map(\.rawValue) {
            #expect(label.allSatisfy { $0.isLowercase || $0 == "-" }, "\(label)")
        }
    }
}
