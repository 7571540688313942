import Testing
@testable import SidecacheAdmin
@testable import SidecacheCore
import SidecacheMetrics
@testable import SidecacheServer
@testable import SidecacheStore

/// The bounds README promises operators, each against the constant that enforces it.
/// The tests of each bound read the constant itself, so a changed constant passed them
/// all while README said otherwise (the README audit). Changing one is a contract
/// change: README first, then this test.
@Suite("Bounds README states")
struct DocumentedBoundsTests {
    @Test func eachBoundIsTheOneREADMEStates() {
        #expect(ProxyEngine.maxRevalidations == 64, "README: at most 64 such refreshes run at once")
        #expect(Warmer.maxFetching == 16, "README: at most 16 warm fetches across entries")
        #expect(Warmer.retryAfterFailure == .seconds(30), "README: a failed warm is tried again after at most 30 s")
        #expect(PipelinedRequests.maxRequests == 32, "README: at most 32 requests wait on one connection")
        #expect(ShadowVerification.maxInFlight == 32, "README: at most 32 checks run at once")
        #expect(VaryMemory.maxPerRoute == 8, "README: learns at most 8 such headers")
        #expect(ExchangeStateMachine.maxRejoins == 3, "README: at most three times")
        #expect(PurgeScope.maxSubtreeDepth == 16, "README: subtrees count down to 16 levels")
        #expect(FillRegistry.hitForMiss == .seconds(10), "README: remembered as not storable for 10 s")
        #expect(PurgeLedger().maxScopes == 1 << 20, "README: 1 048 576 scopes")
        #expect(ProxyServer.defaultDrainGrace == .seconds(10), "README: SIGTERM/SIGINT drain (up to 10 s)")
        #expect(RecentPurges().capacity == 20, "README: the status page's last 20 purges")
        #expect(AdminAPI.historyPeriod == .seconds(10), "README: sampled every 10 s")
        #expect(TrafficHistory().capacity == 31, "README: the last minutes (five at most): 30 intervals of 10 s")
    }
}
