import Foundation
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

    @Test func fixedWindowsCountPerKeyAndReopen() throws {
        let limit = try #require(ConfigLoader.parse(Data(#"""
        { "upstream": "http://127.0.0.1:1", "admin": { "refreshLimit": "2/10s" } }
        """#.utf8), environment: [:]).admin?.refreshLimit)
        var windows = FixedWindows()
        let t0 = ContinuousClock.now
        #expect(windows.hit("a", limit: limit, now: t0) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(1)) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(2)) == .limited(retryAfter: 8))
        #expect(windows.hit("b", limit: limit, now: t0 + .seconds(2)) == .allowed)
        #expect(windows.hit("a", limit: limit, now: t0 + .seconds(10)) == .allowed)
    }

    /// A Retry-After from a window's remaining milliseconds, whatever Redis answered: a
    /// PTTL near Int.max overflowed the rounding and the process crashed (SIGILL).
    @Test(arguments: [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (8000, 8), (Int.max, Int.max / 1000 + 1)])
    func retryAfterRoundsUpWithoutOverflow(ms: Int, seconds: Int) {
        #expect(RefreshLimiter.seconds(ms: ms) == seconds)
    }
}
