import Testing
@testable import SidecacheCore

@Suite struct ServeDecisionTests {
    static let t0 = Timestamp(seconds: 1_000_000)
    static let timing = EntryTiming(birth: t0, freshUntil: t0 + .seconds(60), staleWhileRevalidateUntil: t0 + .seconds(90),
                                    staleIfErrorUntil: t0 + .seconds(600))
    static let fixed = Route(name: "r", pattern: try! RequestPattern(parsing: "GET /r"), ttl: .fixed(.seconds(60)))
    static let origin = Route(name: "o", pattern: try! RequestPattern(parsing: "GET /o"), ttl: .origin)

    @Test(arguments: [(30, ServeDecision.fresh), (59, .fresh), (60, .staleWhileRevalidate), (89, .staleWhileRevalidate), (90, .fetch)] as [(Int64, ServeDecision)])
    func byAge(seconds: Int64, expected: ServeDecision) {
        #expect(ServeDecision.decide(Self.timing, now: Self.t0 + .seconds(seconds), route: Self.fixed, request: HeaderList()) == expected)
    }

    @Test(arguments: [
        ([("Cache-Control", "no-cache")], ServeDecision.fetch),
        ([("Pragma", "no-cache")], .fetch),
        ([("Pragma", "no-cache"), ("Cache-Control", "max-age=100")], .fresh),   // Cache-Control wins over Pragma
        ([("Cache-Control", "max-age=5")], .fetch),
        ([("Cache-Control", "max-age=50")], .fresh),
        ([("Cache-Control", "min-fresh=40")], .fetch),
        ([("Cache-Control", "min-fresh=10")], .fresh),
    ] as [([(String, String)], ServeDecision)])
    func originRoutesHeedRequestDirectives(headers: [(String, String)], expected: ServeDecision) {
        let request = HeaderList(headers.map { (name: $0.0, value: $0.1) })
        let now = Self.t0 + .seconds(30)
        #expect(ServeDecision.decide(Self.timing, now: now, route: Self.origin, request: request) == expected)
        #expect(ServeDecision.decide(Self.timing, now: now, route: Self.fixed, request: request) == .fresh)   // ignored there
    }

    /// RFC 9111 §5.2.1.2: on origin routes a request's `max-stale` takes a stale entry
    /// within its bound (any, without a value), unless the answer's directives forbid it.
    @Test(arguments: [
        ("max-stale=40", false, ServeDecision.staleAccepted),   // 35 s stale
        ("max-stale", false, .staleAccepted),
        ("max-stale=30", false, .fetch),
        ("max-stale=40", true, .fetch),
        ("max-stale=40, max-age=50", false, .fetch),
    ] as [(String, Bool, ServeDecision)])
    func maxStaleTakesAStaleEntry(directives: String, forbidden: Bool, expected: ServeDecision) {
        let request: HeaderList = [("Cache-Control", directives)]
        let now = Self.t0 + .seconds(95)   // 35 s past freshness, past the stale-while-revalidate window
        #expect(ServeDecision.decide(Self.timing, now: now, route: Self.origin, request: request, forbidsStale: { forbidden }) == expected)
        #expect(ServeDecision.decide(Self.timing, now: now, route: Self.fixed, request: request, forbidsStale: { false }) == .fetch,
                "ignored on duration routes")
    }

    @Test(arguments: [
        ("max-age=60", false),
        ("max-age=60, stale-if-error=30", false),
        ("max-age=60, must-revalidate", true),
        ("max-age=60, proxy-revalidate", true),
        ("s-maxage=60", true),
        ("no-cache", true),
    ])
    func answersThatForbidStaleServing(cacheControl: String, forbidden: Bool) {
        #expect(StoragePolicy.forbidsStale([("Cache-Control", cacheControl)] as HeaderList) == forbidden)
    }

    @Test func staleIfErrorWindow() {
        #expect(ServeDecision.staleIfError(Self.timing, now: Self.t0 + .seconds(599)))
        #expect(!ServeDecision.staleIfError(Self.timing, now: Self.t0 + .seconds(600)))
    }
}

@Suite struct ValidatorsTests {
    static let stored: HeaderList = [("ETag", #"W/"abc""#), ("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")]

    @Test(arguments: [
        ([("If-None-Match", #""abc""#)], true),
        ([("If-None-Match", #""x", W/"abc""#)], true),
        ([("If-None-Match", "*")], true),
        ([("If-None-Match", #""x""#)], false),
        ([("If-None-Match", #""x""#), ("If-Modified-Since", "Sat, 21 Nov 2026 11:00:00 GMT")], false),   // INM decides
        ([("If-Modified-Since", "Sat, 21 Nov 2026 10:00:00 GMT")], true),
        ([("If-Modified-Since", "Sat, 21 Nov 2026 09:00:00 GMT")], false),
        ([("If-Modified-Since", "garbage")], false),
    ] as [([(String, String)], Bool)])
    func notModified(request: [(String, String)], expected: Bool) {
        #expect(Validators.notModified(request: HeaderList(request.map { (name: $0.0, value: $0.1) }), stored: Self.stored) == expected)
    }

    @Test(arguments: [
        // The stored tag is weak, as this proxy makes a compressed entry's: the client's
        // strong spelling of it matches (a 412 here was one the upstream never gives);
        // a weak tag in If-Match never does.
        ([("If-Match", #""abc""#)], .satisfied),
        ([("If-Match", #"W/"abc""#)], .failed),
        ([("If-Match", #""abd""#)], .failed),
        ([("If-Match", "*")], .satisfied),
        ([("If-Match", "*"), ("If-None-Match", "*")], .notModified),
        ([("If-Unmodified-Since", "Sat, 21 Nov 2026 09:59:59 GMT")], .failed),
        ([("If-Unmodified-Since", "Sat, 21 Nov 2026 10:00:00 GMT")], .satisfied),
        ([("If-Unmodified-Since", "garbage")], .satisfied),
        ([("If-Match", "*"), ("If-Unmodified-Since", "Sat, 21 Nov 2026 09:00:00 GMT")], .satisfied),   // If-Match decides
        ([("If-None-Match", #""abc""#)], .notModified),
        ([], .satisfied),
    ] as [([(String, String)], Validators.Precondition)])
    func precondition(request: [(String, String)], expected: Validators.Precondition) {
        #expect(Validators.precondition(request: HeaderList(request.map { (name: $0.0, value: $0.1) }), stored: Self.stored) == expected)
        let strong: HeaderList = [("ETag", #""abc""#)]
        #expect(Validators.precondition(request: [("If-Match", #""x", "abc""#)] as HeaderList, stored: strong) == .satisfied)
        #expect(Validators.precondition(request: [("If-Match", #"W/"abc""#)] as HeaderList, stored: strong) == .failed)
        #expect(Validators.precondition(request: [("If-Match", #""abc""#)] as HeaderList, stored: HeaderList()) == .failed)
    }

    /// RFC 9110 §13.1.2: `If-None-Match: *` is false (a 304) for any current
    /// representation, with or without a tag; it answered 200 to an untagged one.
    @Test func ifNoneMatchStarNeedsNoStoredTag() {
        let untagged: HeaderList = [("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")]
        #expect(Validators.notModified(request: [("If-None-Match", "*")] as HeaderList, stored: untagged))
        #expect(!Validators.notModified(request: [("If-None-Match", #""abc""#)] as HeaderList, stored: untagged))
    }

    /// An opaque tag may hold a comma (§8.8.3): lists split only outside quotes. `"a,b"`
    /// was read as `"a` and `b"`, so If-Match on it failed and If-None-Match never matched.
    @Test func entityTagListsSplitOutsideQuotes() {
        #expect(Validators.entityTags([#""a,b", W/"c""#, " * "]) == [#""a,b""#, #"W/"c""#, "*"])
        let stored: HeaderList = [("ETag", #""a,b""#)]
        #expect(Validators.precondition(request: [("If-Match", #""x", "a,b""#)] as HeaderList, stored: stored) == .satisfied)
        #expect(Validators.precondition(request: [("If-None-Match", #""a,b""#)] as HeaderList, stored: stored) == .notModified)
    }

    @Test func revalidationUsesBothValidators() {
        let h = Validators.revalidationHeaders(stored: Self.stored)
        #expect(h.map(\.name) == ["If-None-Match", "If-Modified-Since"])
        #expect(Validators.revalidationHeaders(stored: HeaderList()).isEmpty)
    }

    @Test func aNotModifiedUpdatesStoredFieldsButNeverFraming() {
        let stored: [(name: String, value: String)] = [("ETag", "1"), ("Cache-Control", "max-age=10"), ("Content-Encoding", "gzip"), ("X-A", "a")]
        let merged = Validators.merge(stored: stored, notModified: [("cache-control", "max-age=99"), ("Content-Encoding", "br"), ("X-B", "b")])
        let list = HeaderList(merged)
        #expect(list.first("cache-control") == "max-age=99")
        #expect(list.all("cache-control").count == 1)
        #expect(list.first("content-encoding") == "gzip")
        #expect(list.first("x-a") == "a" && list.first("x-b") == "b" && list.first("etag") == "1")
    }
}

@Suite struct KeepAndVaryTests {
    static let t0 = Timestamp(seconds: 1_000_000)
    static let origin = Route(name: "o", pattern: try! RequestPattern(parsing: "GET /o"), ttl: .origin)
    static let fixed = Route(name: "f", pattern: try! RequestPattern(parsing: "GET /f"), ttl: .fixed(.seconds(60)))

    func decide(_ route: Route, _ headers: [(String, String)], request: [(String, String)] = [], vary: [String] = []) -> StorageDecision {
        StoragePolicy.decide(route: route, requestHeaders: HeaderList(request.map { (name: $0.0, value: $0.1) }), status: 200,
                             responseHeaders: HeaderList(headers.map { (name: $0.0, value: $0.1) }),
                             requestTime: Self.t0, responseTime: Self.t0, varyHeaders: vary)
    }

    @Test func answersWithValidatorsAreKeptForRevalidation() throws {
        guard case .store(let t) = decide(Self.fixed, [("ETag", "1")]) else { Issue.record("not stored"); return }
        #expect(t.freshUntil == Self.t0 + .seconds(60))
        #expect(t.keepUntil == Self.t0 + .seconds(120))
        guard case .store(let plain) = decide(Self.fixed, []) else { Issue.record("not stored"); return }
        #expect(plain.keepUntil == plain.freshUntil)
    }

    @Test func originNoCacheIsStoredOnlyForRevalidation() {
        guard case .store(let t) = decide(Self.origin, [("Cache-Control", "no-cache"), ("ETag", "1")]) else {
            Issue.record("not stored"); return
        }
        #expect(!t.isFresh(at: Self.t0))
        #expect(t.keepUntil > Self.t0)
        #expect(decide(Self.origin, [("Cache-Control", "no-cache")]) == .skip(.noCache))        // nothing to revalidate with
        #expect(decide(Self.fixed, [("Cache-Control", "no-cache"), ("ETag", "1")]) == .skip(.noCache))   // duration routes refuse
    }

    @Test func varyOnALearnedHeaderIsStored() {
        #expect(decide(Self.fixed, [("Vary", "Accept-Language")]) == .skip(.vary))
        guard case .store = decide(Self.fixed, [("Vary", "Accept-Language")], vary: ["accept-language"]) else {
            Issue.record("not stored"); return
        }
        #expect(StoragePolicy.uncoveredVary(["accept-language", "x-a", "*"], route: Self.fixed, varyHeaders: ["accept-language"]) == ["x-a"])
    }

    @Test(arguments: [("gzip, br", "gzip,br"), (" a , b ", "a,b"), ("plain", "plain"), ("A,B", "A,B"), ("a,,b", "a,,b")])
    func fieldValuesNormaliseWhitespaceOnly(raw: String, normalised: String) {
        #expect(normalizedFieldValue(raw) == normalised)
    }

    /// RFC 9111 §4.3.4: which 304s confirm the stored answer they revalidated.
    @Test(arguments: [
        ([("ETag", #""a""#)], [("ETag", #""a""#)], true),
        ([("ETag", #"W/"a""#)], [("ETag", #""a""#)], true),   // stored compressed: the upstream's tag, weakened
        ([("ETag", #""a""#)], [("ETag", #""b""#)], false),
        ([("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], [("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], true),
        ([("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], [("Last-Modified", "Sat, 05 Nov 1994 08:49:37 GMT")], true),
        ([("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], [("Last-Modified", "Mon, 07 Nov 1994 08:49:37 GMT")], false),
        ([("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")], [("ETag", #""new""#)], true),   // nothing to compare
        ([("ETag", #""a""#)], [], true),
    ])
    func a304ConfirmsOnlyTheRepresentationItRevalidated(stored: [(String, String)], notModified: [(String, String)], confirms: Bool) {
        #expect(Validators.confirms(stored: HeaderList(stored), notModified: HeaderList(notModified)) == confirms)
    }
}
