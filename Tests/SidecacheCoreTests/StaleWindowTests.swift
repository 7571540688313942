import Testing
@testable import SidecacheCore

private let now = Timestamp(seconds: 1_700_000_000)

private func decide(_ ttl: TTLPolicy, override: Bool = false, swr: Int64, sie: Int64, cacheControl: String?) -> EntryTiming? {
    let route = Route(name: "r", pattern: try! RequestPattern(parsing: "GET /r"), ttl: ttl, override: override,
                      policy: RoutePolicy(staleWhileRevalidate: .seconds(swr), staleIfError: .seconds(sie)))
    let response: HeaderList = cacheControl.map { [("Cache-Control", $0)] } ?? []
    guard case .store(let t) = StoragePolicy.decide(route: route, requestHeaders: HeaderList(), status: 200, responseHeaders: response,
                                                    requestTime: now, responseTime: now) else { return nil }
    return t
}

struct WindowCase: Sendable, CustomTestStringConvertible {
    var label: String
    var ttl: TTLPolicy = .fixed(.seconds(60))
    var override = false
    var routeSWR: Int64 = 0
    var routeSIE: Int64 = 0
    var cacheControl: String?
    /// Expected seconds of stale-while-revalidate and stale-if-error after freshness ends.
    var swr: Int64
    var sie: Int64
    var testDescription: String { label }
}

@Suite struct StaleWindowTests {
    @Test(arguments: [
        WindowCase(label: "none anywhere", swr: 0, sie: 0),
        WindowCase(label: "route only", routeSWR: 30, routeSIE: 300, swr: 30, sie: 300),
        WindowCase(label: "directive only", cacheControl: "stale-while-revalidate=20, stale-if-error=90", swr: 20, sie: 90),
        WindowCase(label: "directive longer", routeSWR: 30, routeSIE: 300, cacheControl: "stale-while-revalidate=100, stale-if-error=600", swr: 100, sie: 600),
        WindowCase(label: "route longer", routeSWR: 30, routeSIE: 300, cacheControl: "stale-while-revalidate=10, stale-if-error=60", swr: 30, sie: 300),
        WindowCase(label: "must-revalidate", routeSWR: 30, routeSIE: 300, cacheControl: "must-revalidate, stale-if-error=600", swr: 0, sie: 0),
        WindowCase(label: "proxy-revalidate", routeSWR: 30, routeSIE: 300, cacheControl: "proxy-revalidate", swr: 0, sie: 0),
        WindowCase(label: "override keeps the route's", override: true, routeSWR: 30, routeSIE: 300, cacheControl: "must-revalidate, stale-if-error=900", swr: 30, sie: 300),
        WindowCase(label: "origin: max", ttl: .origin, routeSWR: 5, routeSIE: 300, cacheControl: "max-age=60, stale-if-error=600, stale-while-revalidate=1", swr: 5, sie: 600),
        WindowCase(label: "origin: must-revalidate", ttl: .origin, routeSWR: 5, routeSIE: 300, cacheControl: "max-age=60, must-revalidate", swr: 0, sie: 0),
        // RFC 9111 §5.2.2.10: s-maxage carries proxy-revalidate; the upstream's own stale directives still apply.
        WindowCase(label: "origin: s-maxage", ttl: .origin, routeSWR: 5, routeSIE: 300, cacheControl: "s-maxage=60", swr: 0, sie: 0),
        WindowCase(label: "origin: s-maxage with its own windows", ttl: .origin, routeSWR: 50, routeSIE: 300,
                   cacheControl: "s-maxage=60, stale-while-revalidate=10, stale-if-error=20", swr: 10, sie: 20),
        WindowCase(label: "fixed: s-maxage keeps the route's", routeSWR: 30, routeSIE: 300, cacheControl: "s-maxage=60", swr: 30, sie: 300),
    ])
    func windows(c: WindowCase) throws {
        let t = try #require(decide(c.ttl, override: c.override, swr: c.routeSWR, sie: c.routeSIE, cacheControl: c.cacheControl))
        #expect(t.staleWhileRevalidateUntil - t.freshUntil == .seconds(c.swr))
        #expect(t.staleIfErrorUntil - t.freshUntil == .seconds(c.sie))
    }

    @Test func zeroFreshnessStillStoredForItsStaleWindow() throws {
        let t = try #require(decide(.fixed(.seconds(60)), swr: 0, sie: 300, cacheControl: "max-age=0"))
        #expect(t.freshUntil == now)
        #expect(!t.isFresh(at: now))
        #expect(t.expiresAt == now + .seconds(300))
        #expect(decide(.fixed(.seconds(60)), swr: 0, sie: 0, cacheControl: "max-age=0") == nil)
    }
}

@Suite struct EntryTimingTests {
    let timing = EntryTiming(birth: now - .seconds(10), freshUntil: now + .seconds(50),
                             staleWhileRevalidateUntil: now + .seconds(80), staleIfErrorUntil: now + .seconds(350))

    @Test func freshnessAgeRemaining() {
        #expect(timing.isFresh(at: now))
        #expect(timing.isFresh(at: now + .milliseconds(49_999)))
        #expect(!timing.isFresh(at: now + .seconds(50)))
        #expect(timing.age(at: now) == .seconds(10))
        #expect(timing.age(at: now - .seconds(60)) == .zero)      // never negative
        #expect(timing.remaining(at: now) == .seconds(50))
        #expect(timing.remaining(at: now + .seconds(70)) == .seconds(-20))
        #expect(timing.expiresAt == now + .seconds(350))
    }

    @Test func expiresAtIsTheLatestWindow() {
        var t = timing
        t.staleIfErrorUntil = now
        #expect(t.expiresAt == now + .seconds(80))
        t.staleWhileRevalidateUntil = now
        #expect(t.expiresAt == now + .seconds(50))
    }

    @Test func timestampArithmetic() {
        #expect(Timestamp(seconds: 2) == Timestamp(milliseconds: 2000))
        #expect(Timestamp(seconds: 2) + .milliseconds(500) == Timestamp(milliseconds: 2500))
        #expect(Timestamp(seconds: 2) - Timestamp(seconds: 5) == .seconds(-3))
    }

    /// RFC 9111 §1.2.2: an `Age` past 2^31 s is sent as 2^31, and an upstream `Date`
    /// that far back ages an answer by no more (it said `Age: 63932019951`).
    @Test func agesStopAt2To31Seconds() {
        let received = Timestamp(seconds: 784_111_777)
        let ancient = StoragePolicy.correctedInitialAge([("Date", "Mon, 01 Jan 0001 00:00:00 GMT")] as HeaderList,
                                                        requestTime: received, responseTime: received)
        #expect(ancient == .seconds(2_147_483_648))
        let birth = received - ancient
        let timing = EntryTiming(birth: birth, freshUntil: received, staleWhileRevalidateUntil: received, staleIfErrorUntil: received)
        #expect(timing.ageSeconds(at: received + .seconds(30)) == 2_147_483_648)
    }

    /// `Age` and a hit's `ttl=` in whole seconds, counted on integer milliseconds: the
    /// same figures as through `Duration`, truncated toward zero, `Age` never negative.
    @Test func ageAndTTLInWholeSeconds() {
        let birth = Timestamp(milliseconds: 1_000_000)
        let timing = EntryTiming(birth: birth, freshUntil: birth + .seconds(60), staleWhileRevalidateUntil: birth + .seconds(60),
                                 staleIfErrorUntil: birth + .seconds(60), revalidateUntil: birth + .seconds(60))
        for (offset, age, ttl) in [(-2_500, 0, 62), (0, 0, 60), (1_999, 1, 58), (59_999, 59, 0), (63_500, 63, -3)] as [(Int64, Int64, Int64)] {
            let now = birth + .milliseconds(offset)
            #expect(timing.ageSeconds(at: now) == age, "\(offset) ms")
            #expect(timing.remainingSeconds(at: now) == ttl, "\(offset) ms")
            #expect(timing.remainingSeconds(at: now) == timing.remaining(at: now).milliseconds / 1000, "\(offset) ms")
        }
    }
}

/// A soft purge at `since` expires an entry then, its stale windows counted from then.
@Suite struct SoftPurgedTimingTests {
    static func t(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: ms) }

    @Test func freshnessEndsAtThePurgeAndTheWindowsFollowIt() {
        let timing = EntryTiming(birth: Self.t(0), freshUntil: Self.t(60_000), staleWhileRevalidateUntil: Self.t(90_000),
                                 staleIfErrorUntil: Self.t(120_000), revalidateUntil: Self.t(200_000))
        let soft = timing.expired(at: Self.t(10_000))
        #expect(soft.freshUntil == Self.t(10_000))
        #expect(soft.staleWhileRevalidateUntil == Self.t(40_000))
        #expect(soft.staleIfErrorUntil == Self.t(70_000))
        #expect(soft.revalidateUntil == Self.t(200_000))
        #expect(!soft.isFresh(at: Self.t(10_000)))
    }

    @Test func anAlreadyExpiredEntryIsUnchanged() {
        let timing = EntryTiming(birth: Self.t(0), freshUntil: Self.t(5_000), staleWhileRevalidateUntil: Self.t(9_000),
                                 staleIfErrorUntil: Self.t(5_000))
        #expect(timing.expired(at: Self.t(7_000)) == timing)
        #expect(timing.expired(at: Self.t(-1)).freshUntil == Self.t(0), "never before the answer's birth")
    }
}

/// A duration route's current `ttl` is the ceiling of every entry's freshness when it is
/// served, also of an entry stored before a reload lowered it (DESIGN: the ttl is the
/// operator's ceiling).
@Suite struct FreshnessCeilingTests {
    static func t(_ ms: Int64) -> Timestamp { Timestamp(milliseconds: ms) }
    static func route(_ ttl: TTLPolicy) -> Route { Route(name: "r", pattern: try! RequestPattern(parsing: "GET /r"), ttl: ttl) }
    static let stored = EntryTiming(birth: t(1_000), freshUntil: t(301_000), staleWhileRevalidateUntil: t(311_000),
                                    staleIfErrorUntil: t(901_000), revalidateUntil: t(601_000))

    @Test func aLowerTTLEndsFreshnessThereAndTheWindowsFollow() {
        let served = Self.stored.within(Self.route(.fixed(.seconds(2))))
        #expect(served.freshUntil == Self.t(3_000))
        #expect(served.staleWhileRevalidateUntil == Self.t(13_000))
        #expect(served.staleIfErrorUntil == Self.t(603_000))
        #expect(served.revalidateUntil == Self.t(601_000))
        #expect(Self.stored.within(Self.route(.fixed(.zero))).freshUntil == Self.t(1_000), "0s: stale from birth")
    }

    @Test(arguments: [TTLPolicy.fixed(.seconds(300)), .fixed(.seconds(3_600)), .origin])
    func aTTLAtOrAboveTheEntrysLifetimeChangesNothing(ttl: TTLPolicy) {
        #expect(Self.stored.within(Self.route(ttl)) == Self.stored)
    }
}
