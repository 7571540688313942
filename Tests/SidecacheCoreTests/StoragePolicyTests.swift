import Testing
@testable import SidecacheCore

/// Fixed instants: the fetch is answered at `now`, whose HTTP-date is `nowText`.
private let now = Timestamp(seconds: 784_111_777)
private let nowText = "Sun, 06 Nov 1994 08:49:37 GMT"
private func date(_ offset: Int64) -> String { HTTPDate.format(now + .seconds(offset)) }

private func route(_ ttl: TTLPolicy, keyHeaders: [String] = [], override: Bool = false,
                   swr: Duration = .zero, sie: Duration = .zero, compress: Bool = true) -> Route {
    Route(name: "r", pattern: try! RequestPattern(parsing: "GET /r"), ttl: ttl, keyHeaders: keyHeaders,
          override: override, policy: RoutePolicy(staleWhileRevalidate: swr, staleIfError: sie, compress: compress))
}

private let fixed = route(.fixed(.seconds(60)))
private let overriding = route(.fixed(.seconds(60)), override: true)
private let origin = route(.origin)

/// What a decision comes to: stored with this many seconds of freshness left at `now`, or skipped.
enum Outcome: Equatable, Sendable {
    case fresh(Int64)
    case skip(NotStoredReason)

    init(_ d: StorageDecision, at t: Timestamp = now) {
        switch d {
        case .store(let timing): self = .fresh(timing.remaining(at: t).milliseconds / 1000)
        case .skip(let r): self = .skip(r)
        }
    }
}

struct StorageCase: Sendable, CustomTestStringConvertible {
    var label: String
    var route: Route
    var request: HeaderList = []
    var status = 200
    var response: HeaderList = [("Date", nowText)]
    var expected: Outcome

    var testDescription: String { label }

    func decide(requestTime: Timestamp = now) -> StorageDecision {
        StoragePolicy.decide(route: route, requestHeaders: request, status: status, responseHeaders: response,
                             requestTime: requestTime, responseTime: now)
    }
}

@Suite struct StoragePolicyTests {
    @Test(arguments: [
        StorageCase(label: "fixed: plain 200", route: fixed, expected: .fresh(60)),
        StorageCase(label: "fixed: no Date", route: fixed, response: [], expected: .fresh(60)),
        StorageCase(label: "Set-Cookie", route: fixed, response: [("Date", nowText), ("Set-Cookie", "a=1")], expected: .skip(.setCookie)),
        StorageCase(label: "Set-Cookie even with override", route: overriding, response: [("set-cookie", "a=1")], expected: .skip(.setCookie)),
        StorageCase(label: "Set-Cookie on origin", route: origin, response: [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "a")], expected: .skip(.setCookie)),
        StorageCase(label: "Vary: *", route: fixed, response: [("Vary", "*")], expected: .skip(.varyStar)),
        StorageCase(label: "Vary: *, in a list, override", route: overriding, response: [("Vary", "Accept, *")], expected: .skip(.varyStar)),
        // The upstream reads the client's address at the end of X-Forwarded-For; the key
        // would hash only the client's own header (usually none): every client merged.
        StorageCase(label: "Vary: X-Forwarded-For is per client", route: fixed, response: [("Vary", "Origin, X-Forwarded-For")],
                    expected: .skip(.varyStar)),
        StorageCase(label: "Vary: X-Request-Id, which the proxy makes up for a request without one", route: fixed,
                    response: [("Vary", "X-Request-Id")], expected: .skip(.varyStar)),
        StorageCase(label: "Vary members without commas name no header a request carries", route: fixed,
                    response: [("Vary", "X-Role X-Tenant")], expected: .skip(.varyStar)),
        StorageCase(label: "Vary: a member that is not a field name", route: fixed, response: [("Vary", "Accept, X-Role;q=1")],
                    expected: .skip(.varyStar)),
        StorageCase(label: "Vary: empty list members are nothing", route: fixed, response: [("Vary", "Accept-Encoding, ,")],
                    expected: .fresh(60)),
        StorageCase(label: "Vary on a header not in the key", route: fixed, response: [("Vary", "Accept-Language")], expected: .skip(.vary)),
        StorageCase(label: "Vary: Accept-Encoding, compressing route (one gzip entry serves all)", route: fixed,
                    response: [("Vary", "Accept-Encoding")], expected: .fresh(60)),
        StorageCase(label: "Vary: Accept-Encoding, route without compress", route: route(.fixed(.seconds(60)), compress: false),
                    response: [("Vary", "Accept-Encoding")], expected: .skip(.vary)),
        StorageCase(label: "br on a compressing route", route: fixed, response: [("Content-Encoding", "br")], expected: .skip(.encoding)),
        // Kept as sent, br would reach clients that cannot read it: only when the key has
        // Accept-Encoding (key.headers, or learned from Vary).
        StorageCase(label: "br, route without compress", route: route(.fixed(.seconds(60)), compress: false),
                    response: [("Content-Encoding", "br")], expected: .skip(.encoding)),
        StorageCase(label: "br, route without compress, keyed on Accept-Encoding",
                    route: route(.fixed(.seconds(60)), keyHeaders: ["Accept-Encoding"], compress: false),
                    request: [("Accept-Encoding", "gzip, br")],
                    response: [("Content-Encoding", "br"), ("Vary", "Accept-Encoding")], expected: .fresh(60)),
        StorageCase(label: "br, route without compress, keyed on an Accept-Encoding without br",
                    route: route(.fixed(.seconds(60)), keyHeaders: ["Accept-Encoding"], compress: false),
                    request: [("Accept-Encoding", "gzip")],
                    response: [("Content-Encoding", "br"), ("Vary", "Accept-Encoding")], expected: .skip(.encoding)),
        StorageCase(label: "gzip, route without compress (decoded for clients without)", route: route(.fixed(.seconds(60)), compress: false),
                    response: [("Content-Encoding", "gzip")], expected: .fresh(60)),
        StorageCase(label: "gzip with no-transform, route without compress (could not be decoded for them)",
                    route: route(.fixed(.seconds(60)), compress: false),
                    response: [("Content-Encoding", "gzip"), ("Cache-Control", "no-transform")], expected: .skip(.encoding)),
        StorageCase(label: "Vary covered by key.headers", route: route(.fixed(.seconds(60)), keyHeaders: ["X-Role"]),
                    response: [("Vary", "x-role")], expected: .fresh(60)),
        StorageCase(label: "Vary partly covered", route: route(.fixed(.seconds(60)), keyHeaders: ["X-Role"]),
                    response: [("Vary", "X-Role"), ("Vary", "Accept")], expected: .skip(.vary)),
        StorageCase(label: "no-store", route: fixed, response: [("Cache-Control", "no-store")], expected: .skip(.noStore)),
        StorageCase(label: "private", route: fixed, response: [("Cache-Control", "private, max-age=60")], expected: .skip(.private)),
        StorageCase(label: "no-cache", route: fixed, response: [("Cache-Control", "no-cache")], expected: .skip(.noCache)),
        StorageCase(label: "no-store, override", route: overriding, response: [("Cache-Control", "no-store, private, no-cache")], expected: .fresh(60)),
        StorageCase(label: "smaller max-age lowers", route: fixed, response: [("Cache-Control", "max-age=30")], expected: .fresh(30)),
        StorageCase(label: "smaller s-maxage lowers", route: fixed, response: [("Cache-Control", "s-maxage=20, max-age=30")], expected: .fresh(20)),
        StorageCase(label: "s-maxage beats a smaller max-age", route: fixed, response: [("Cache-Control", "s-maxage=45, max-age=5")], expected: .fresh(45)),
        StorageCase(label: "larger max-age does not raise", route: fixed, response: [("Cache-Control", "max-age=600")], expected: .fresh(60)),
        StorageCase(label: "max-age ignored with override", route: overriding, response: [("Cache-Control", "max-age=5")], expected: .fresh(60)),
        StorageCase(label: "sooner Expires lowers", route: fixed, response: [("Date", nowText), ("Expires", date(30))], expected: .fresh(30)),
        StorageCase(label: "invalid Expires on fixed", route: fixed, response: [("Date", nowText), ("Expires", "0")], expected: .skip(.noFreshness)),
        StorageCase(label: "max-age=0 on fixed", route: fixed, response: [("Cache-Control", "max-age=0")], expected: .skip(.noFreshness)),
        StorageCase(label: "fixed ignores request no-store", route: fixed, request: [("Cache-Control", "no-store"), ("Pragma", "no-cache")], expected: .fresh(60)),
        StorageCase(label: "origin: s-maxage over max-age", route: origin, response: [("Cache-Control", "max-age=50, s-maxage=100")], expected: .fresh(100)),
        StorageCase(label: "origin: max-age", route: origin, response: [("Cache-Control", "max-age=50")], expected: .fresh(50)),
        StorageCase(label: "origin: max-age over Expires", route: origin, response: [("Date", nowText), ("Expires", date(500)), ("Cache-Control", "max-age=50")], expected: .fresh(50)),
        StorageCase(label: "origin: Expires - Date", route: origin, response: [("Date", nowText), ("Expires", date(120))], expected: .fresh(120)),
        // RFC 9111 §1.2.2: no lifetime past 2^31 s, however far apart the two dates.
        StorageCase(label: "origin: Expires - Date at most 2^31 s", route: origin,
                    response: [("Date", nowText), ("Expires", "Fri, 31 Dec 9999 23:59:59 GMT")], expected: .fresh(2_147_483_648)),
        StorageCase(label: "origin: no freshness", route: origin, expected: .skip(.noFreshness)),
        StorageCase(label: "origin: public alone is not freshness", route: origin, response: [("Cache-Control", "public")], expected: .skip(.noFreshness)),
        StorageCase(label: "origin: invalid Expires", route: origin, response: [("Date", nowText), ("Expires", "-1")], expected: .skip(.noFreshness)),
        StorageCase(label: "origin: past Expires", route: origin, response: [("Date", nowText), ("Expires", date(-10))], expected: .skip(.noFreshness)),
        // RFC 9213 §2.2: a targeted field's directives leave Expires aside, as Cache-Control.
        StorageCase(label: "origin: targeted field without a lifetime, Expires ignored", route: origin,
                    response: [("Date", nowText), ("Expires", date(60)), ("CDN-Cache-Control", "must-revalidate")], expected: .skip(.noFreshness)),
        StorageCase(label: "fixed: targeted field, Expires does not lower the ttl", route: fixed,
                    response: [("Date", nowText), ("Expires", date(10)), ("Sidecache-Cache-Control", "public")], expected: .fresh(60)),
        StorageCase(label: "origin: request no-store", route: origin, request: [("Cache-Control", "no-store")],
                    response: [("Cache-Control", "max-age=60")], expected: .skip(.noStore)),
        StorageCase(label: "origin: no-cache", route: origin, response: [("Cache-Control", "no-cache, max-age=60")], expected: .skip(.noCache)),
        StorageCase(label: "origin: 500 explicitly fresh", route: origin, status: 500, response: [("Cache-Control", "max-age=60")], expected: .fresh(60)),
        StorageCase(label: "origin: 206", route: origin, status: 206, response: [("Cache-Control", "max-age=60")], expected: .skip(.status)),
        StorageCase(label: "origin: 304", route: origin, status: 304, response: [("Cache-Control", "max-age=60")], expected: .skip(.status)),
        StorageCase(label: "origin: 103", route: origin, status: 103, response: [("Cache-Control", "max-age=60")], expected: .skip(.status)),
        // A range said to be whole: a range hit would carry it beside its own Content-Range.
        StorageCase(label: "a 200 with Content-Range", route: fixed, response: [("Content-Range", "bytes 0-99/1000")], expected: .skip(.status)),
        // Past HTTP's three digits: no stored entry reads back with it (StoredFraming).
        StorageCase(label: "origin: 700", route: origin, status: 700, response: [("Cache-Control", "max-age=60")], expected: .skip(.status)),
        StorageCase(label: "origin + Authorization, max-age only", route: origin, request: [("Authorization", "Bearer x")],
                    response: [("Cache-Control", "max-age=60")], expected: .skip(.authorization)),
        StorageCase(label: "origin + Authorization, public", route: origin, request: [("Authorization", "Bearer x")],
                    response: [("Cache-Control", "public, max-age=60")], expected: .fresh(60)),
        StorageCase(label: "origin + Authorization, s-maxage", route: origin, request: [("Authorization", "Bearer x")],
                    response: [("Cache-Control", "s-maxage=60")], expected: .fresh(60)),
        StorageCase(label: "origin + Authorization, must-revalidate", route: origin, request: [("Authorization", "Bearer x")],
                    response: [("Cache-Control", "must-revalidate, max-age=60")], expected: .fresh(60)),
        StorageCase(label: "origin + Authorization, Expires only", route: origin, request: [("Authorization", "Bearer x")],
                    response: [("Date", nowText), ("Expires", date(60))], expected: .skip(.authorization)),
        StorageCase(label: "Age reduces fixed", route: fixed, response: [("Date", nowText), ("Age", "20")], expected: .fresh(40)),
        StorageCase(label: "Age reduces origin", route: origin, response: [("Cache-Control", "max-age=100"), ("Age", "30")], expected: .fresh(70)),
        StorageCase(label: "Age past the lifetime", route: origin, response: [("Cache-Control", "max-age=100"), ("Age", "150")], expected: .skip(.noFreshness)),
        StorageCase(label: "bad Age ignored", route: fixed, response: [("Age", "soon")], expected: .fresh(60)),
        // A Date behind ours measures the upstream's clock on a duration route: one a ttl
        // behind made the route store nothing. On origin routes RFC 9111 §4.2.3 counts it.
        StorageCase(label: "fixed: a Date behind does not age the answer", route: fixed, response: [("Date", date(-30))], expected: .fresh(60)),
        StorageCase(label: "fixed: a Date a ttl behind still stores", route: fixed,
                    response: [("Date", date(-600)), ("Cache-Control", "max-age=3600")], expected: .fresh(60)),
        StorageCase(label: "override: a Date behind", route: overriding, response: [("Date", date(-120))], expected: .fresh(60)),
        StorageCase(label: "origin: a Date behind ages the answer", route: origin,
                    response: [("Date", date(-30)), ("Cache-Control", "max-age=100")], expected: .fresh(70)),
        // RFC 9111 §5.1: of a list-valued Age, the first member.
        StorageCase(label: "§5.1 a list Age: its first member", route: origin,
                    response: [("Cache-Control", "max-age=100"), ("Age", "30, 99")], expected: .fresh(70)),
        StorageCase(label: "§5.1 a list Age past the lifetime", route: origin,
                    response: [("Cache-Control", "max-age=100"), ("Age", "200, 1")], expected: .skip(.noFreshness)),
        // RFC 9111 §5.1 / §1.2.2: Age is delta-seconds (1*DIGIT) — a sign or a fraction makes it invalid, so ignored.
        StorageCase(label: "§5.1 signed Age ignored", route: fixed, response: [("Age", "+20")], expected: .fresh(60)),
        StorageCase(label: "§5.1 negative Age ignored", route: fixed, response: [("Age", "-20")], expected: .fresh(60)),
        StorageCase(label: "§5.1 fractional Age ignored", route: fixed, response: [("Age", "20.5")], expected: .fresh(60)),
        StorageCase(label: "§1.2.2 huge Age is 2^31: stale", route: origin,
                    response: [("Cache-Control", "max-age=100"), ("Age", "99999999999999999999")], expected: .skip(.noFreshness)),
        StorageCase(label: "origin: old Date counts as age", route: origin, response: [("Date", date(-10)), ("Cache-Control", "max-age=60")], expected: .fresh(50)),
        StorageCase(label: "Sidecache-CC beats CDN-CC and CC", route: origin, response: [
            ("Cache-Control", "max-age=30"), ("CDN-Cache-Control", "max-age=20"), ("Sidecache-Cache-Control", "max-age=10")], expected: .fresh(10)),
        StorageCase(label: "CDN-CC beats CC", route: origin, response: [
            ("Cache-Control", "max-age=30"), ("CDN-Cache-Control", "max-age=20")], expected: .fresh(20)),
        StorageCase(label: "CDN-CC no-store wins over CC", route: origin, response: [
            ("Cache-Control", "max-age=30"), ("CDN-Cache-Control", "no-store")], expected: .skip(.noStore)),
        StorageCase(label: "targeted field replaces CC's lifetime", route: fixed, response: [
            ("Cache-Control", "max-age=5"), ("Sidecache-Cache-Control", "max-age=15")], expected: .fresh(15)),
        // DESIGN: on duration routes CC's refusals hold unless `override`, beside either
        // targeted field: a middleware adding `Sidecache-Cache-Control` to every answer
        // had its per-user `private` ones shared.
        StorageCase(label: "Sidecache-CC does not lift CC no-store on a duration route", route: fixed, response: [
            ("Cache-Control", "no-store"), ("Sidecache-Cache-Control", "max-age=15")], expected: .skip(.noStore)),
        StorageCase(label: "Sidecache-CC does not lift CC private on a duration route", route: fixed, response: [
            ("Cache-Control", "private"), ("Sidecache-Cache-Control", "max-age=30")], expected: .skip(.private)),
        StorageCase(label: "Sidecache-CC still rules an origin route", route: origin, response: [
            ("Cache-Control", "private"), ("Sidecache-Cache-Control", "max-age=20")], expected: .fresh(20)),
        StorageCase(label: "CDN-CC does not lift CC private on a duration route", route: fixed, response: [
            ("Cache-Control", "private"), ("CDN-Cache-Control", "max-age=60")], expected: .skip(.private)),
        StorageCase(label: "CDN-CC does not lift CC no-store on a duration route", route: fixed, response: [
            ("Cache-Control", "max-age=5, no-store"), ("CDN-Cache-Control", "max-age=60")], expected: .skip(.noStore)),
        StorageCase(label: "CDN-CC still rules an origin route", route: origin, response: [
            ("Cache-Control", "private"), ("CDN-Cache-Control", "max-age=20")], expected: .fresh(20)),
    ])
    func decide(c: StorageCase) {
        #expect(Outcome(c.decide()) == c.expected)
    }

    @Test(arguments: [200, 203, 204, 300, 301, 308, 404, 410])
    func fixedStoresTheseStatuses(status: Int) {
        for r in [fixed, overriding] {
            #expect(Outcome(StorageCase(label: "", route: r, status: status, expected: .fresh(60)).decide()) == .fresh(60))
        }
    }

    @Test(arguments: [100, 101, 201, 202, 205, 206, 302, 303, 304, 307, 400, 401, 403, 405, 429, 500, 502, 503])
    func fixedSkipsOtherStatuses(status: Int) {
        for r in [fixed, overriding] {
            #expect(Outcome(StorageCase(label: "", route: r, status: status, expected: .skip(.status)).decide()) == .skip(.status))
        }
    }

    @Test func responseDelayCountsAsAge() {
        let c = StorageCase(label: "", route: fixed, response: [], expected: .fresh(55))
        #expect(Outcome(c.decide(requestTime: now - .seconds(5))) == .fresh(55))
    }

    /// Regression, RFC 9111 §4.2.1: Expires minus Date, "using the time the message was
    /// received if it is not present".
    @Test func expiresWithoutDateUsesReceiptTime() {
        #expect(Outcome(StorageCase(label: "", route: origin, response: [("Expires", date(120))], expected: .fresh(120)).decide()) == .fresh(120))
        #expect(Outcome(StorageCase(label: "", route: fixed, response: [("Expires", date(3600))], expected: .fresh(60)).decide()) == .fresh(60))
        #expect(Outcome(StorageCase(label: "", route: fixed, response: [("Expires", date(10))], expected: .fresh(10)).decide()) == .fresh(10))
        #expect(Outcome(StorageCase(label: "", route: origin, response: [("Date", "garbage"), ("Expires", date(30))], expected: .fresh(30)).decide()) == .fresh(30))
    }
}
