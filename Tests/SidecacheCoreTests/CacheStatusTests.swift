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

    @Test func labels() {
        #expect(CacheOutcome.allCases.map(\.rawValue) == ["HIT", "MISS", "STALE", "BYPASS"])
        #expect(CacheOutcome.allCases.map(\.label) == ["hit", "miss", "stale", "bypass"])
        // Metric labels: lowercase, no spaces.
        for label in BypassReason.allCases.map(\.rawValue) + NotStoredReason.allCases.map(\.rawValue) {
            #expect(label.allSatisfy { $0.isLowercase || $0 == "-" }, "\(label)")
        }
    }
}
