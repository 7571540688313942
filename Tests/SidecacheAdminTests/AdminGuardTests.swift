import Foundation
import NIOHTTP1
@testable import SidecacheAdmin
import SidecacheConfig
import Testing

/// The token check and the refresh limit's local windows, as plain values.
@Suite("Admin guards: bearer token, refresh windows")
struct AdminGuardTests {
    @Test func bearerComparisonFoldsEveryByte() {
        let secret = Array("Bearer abc".utf8)
        #expect(BearerToken.constantTimeEquals(secret, secret))
        for wrong in ["Bearer abd", "Bearer ab", "Bearer abcd", "", "bearer abc"] {
            #expect(!BearerToken.constantTimeEquals(Array(wrong.utf8), secret), "\(wrong)")
        }
    }

    /// RFC 9110 §11.1, §11.4: the scheme is case-blind and followed by one or more spaces.
    @Test func bearerCredentialsAreReadAsRFC9110Says() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc"] {
            #expect(BearerToken.bearerCredential(value) == Array("abc".utf8), "\(value)")
        }
        for value in ["Bearerabc", "Basic abc", "Bearer", "Bearer ", "Bear abc"] {
            #expect(BearerToken.bearerCredential(value)?.isEmpty ?? true, "\(value)")
        }
    }

    /// What a browser sends for another site (a POST), or through a name rebound to
    /// 127.0.0.1, is refused; curl's requests (no Origin, no Sec-Fetch-Site), a reverse
    /// proxy relaying them, and a link followed to a read are not.
    @Test(arguments: [
        ([("Host", "127.0.0.1:9090")], true, false, false),
        ([("Host", "localhost:9090"), ("Origin", "http://localhost:9090"), ("Sec-Fetch-Site", "same-origin")], true, false, false),
        ([("Host", "[::1]:9090"), ("Sec-Fetch-Site", "none")], true, false, false),
        ([("Host", "127.0.0.1:9090"), ("Sec-Fetch-Site", "cross-site")], true, false, true),
        ([("Host", "127.0.0.1:9090"), ("Sec-Fetch-Site", "same-site")], true, true, true),
        ([("Host", "127.0.0.1:9090"), ("Origin", "http://evil.example")], true, true, true),
        ([("Host", "127.0.0.1:9090"), ("Origin", "null")], true, false, true),
        ([("Origin", "http://127.0.0.1:9090")], true, false, true),
        ([("Host", "127.0.0.1:9090"), ("Sec-Fetch-Site", "cross-site")], false, false, false),   // a link to the status page
        ([("Host", "rebound.evil.example:9090"), ("Sec-Fetch-Site", "same-origin")], false, false, true),
        ([("Host", "rebound.evil.example:9090"), ("Origin", "http://rebound.evil.example:9090")], true, false, true),
        ([("Host", "admin.internal:9090")], true, false, false),   // curl through a reverse proxy keeping Host
        ([("Host", "admin.internal:9090"), ("Sec-Fetch-Site", "none")], false, true, false),   // a token lets other names in
    ] as [([(String, String)], Bool, Bool, Bool)])
    func browserRequestsForAnotherSiteAreRefused(headers: [(String, String)], changes: Bool, withToken: Bool, refused: Bool) {
        let fields = HTTPHeaders(headers)
        #expect((BrowserGuard.refusal(fields, changes: changes, tokenless: !withToken) != nil) == refused, "\(headers)")
    }

    /// `refreshLimit: "2/10s"`, as the loader reads it.
    static func twoPerTenSeconds() throws -> RateLimit {
        try #require(ConfigLoader.parse(Data(#"""
        { "upstream": "http://127.0.0.1:1", "admin": { "refreshLimit": "2/10s" } }
        """#.utf8), environment: [:]).admin?.refreshLimit)
    }

    @Test func fixedWindowsCountPerKeyAndReopen() throws {
        let limit = try Self.twoPerTenSeconds()
        var windows = FixedWindows()
        let t0 = ContinuousClock.now
        #expect(windows.hit("a", limit: limit, now: t0) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(1)) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(2)) == .limited(retryAfter: 8))
        #expect(windows.hit("b", limit: limit, now: t0 + .seconds(2)) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(10)) == .allowed)
    }

    /// A refused call does not count: two retries while both admitted refreshes ran,
    /// then one of those failed and was refunded, left the key locked for the window.
    @Test func refusedHitsAreNotCounted() throws {
        let limit = try Self.twoPerTenSeconds()
        var windows = FixedWindows()
        let t0 = ContinuousClock.now
        #expect(windows.hit("a", limit: limit, now: t0) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(1)) != .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(1)) != .allowed)
        windows.refund("a")
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(2)) == .allowed, "the refunded place is free again")
    }

    /// A Retry-After from a window's remaining milliseconds, whatever Redis answered: a
    /// PTTL near Int.max overflowed the rounding and the process crashed (SIGILL).
    @Test(arguments: [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (8000, 8), (Int.max, Int.max / 1000 + 1)])
    func retryAfterRoundsUpWithoutOverflow(ms: Int, seconds: Int) {
        #expect(RefreshLimiter.seconds(ms: ms) == seconds)
    }
}
