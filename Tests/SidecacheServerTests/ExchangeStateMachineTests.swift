import NIOCore
import NIOHTTP1
import SidecacheCore
@testable import SidecacheServer
import SidecacheStore
import SidecacheUpstream
import Testing

/// The exchange's life as a plain value: every transition driven by events, no channel,
/// no store, no upstream, no clock but the instants passed in.
@Suite("Exchange state machine: events in, actions out")
struct ExchangeStateMachineTests {
    static let now = Timestamp(seconds: 1_000_000)

    static func route(ttl: TTLPolicy = .fixed(.seconds(60)), maxBody: Int = 1 << 20, staleIfError: Duration = .zero) -> Route {
        Route(name: "r", pattern: try! RequestPattern(parsing: "GET /r/{id}"), ttl: ttl,
              policy: RoutePolicy(staleIfError: staleIfError, maxBodySize: maxBody, upstreamTimeout: .seconds(7)))
    }

    static func context(_ route: Route) -> CacheContext {
        CacheContext(route: route, key: CacheKey(a: 1, b: 2, c: 3, d: 4), target: RequestTarget("/r/1")!, varyHeaders: [])
    }

    /// A machine for a GET, and the cache context on `route` that `start` hands it.
    static func machine(_ route: Route = route(), headers: HTTPHeaders = [:],
                        version: HTTPVersion = .http1_1) -> (ExchangeStateMachine, CacheContext) {
        (ExchangeStateMachine(request: headers, isHEAD: false, version: version, allocator: ByteBufferAllocator()), context(route))
    }

    static func forwarding(version: HTTPVersion = .http1_1) -> ExchangeStateMachine {
        ExchangeStateMachine(request: [:], isHEAD: false, version: version, allocator: ByteBufferAllocator())
    }

    /// An entry fresh for `fresh` seconds after `now` (negative: stale since), usable
    /// stale-if-error for `staleIfError` seconds after `now`; born 30 s ago, within the
    /// route's 60 s `ttl` (which caps every entry's freshness).
    static func entry(fresh: Int64, staleIfError: Int64 = 0, etag: Bool = false) -> CacheEntry {
        let head = "HTTP/1.1 200 OK\r\n" + (etag ? "ETag: \"v1\"\r\n" : "") + "Content-Length: 2\r\n"
        return CacheEntry(head: ByteBuffer(string: head), body: ByteBuffer(string: "ok"), status: 200,
                          timing: EntryTiming(birth: now - .seconds(30), freshUntil: now + .seconds(fresh), staleWhileRevalidateUntil: now,
                                              staleIfErrorUntil: now + .seconds(staleIfError)),
                          fillSeq: 0, scopeIDs: [])
    }

    static func head(_ status: Int, _ headers: [(name: String, value: String)] = []) -> UpstreamResponseHead {
        UpstreamResponseHead(status: status, reason: "", headers: headers)
    }

    /// A machine that reached `fetching` for a fill of a miss.
    static func filling(_ route: Route = route()) -> ExchangeStateMachine {
        var (m, mContext) = machine(route)
        _ = m.start(mContext)
        _ = m.lookupAnswered(nil, generations: nil, now: now)
        _ = m.flightEntered(waiter: nil, now: now)
        return m
    }

    /// A miss waiting on another request's fill.
    static func waiting(_ route: Route = route()) -> ExchangeStateMachine {
        var (m, mContext) = machine(route)
        _ = m.start(mContext)
        _ = m.lookupAnswered(nil, generations: nil, now: now)
        _ = m.flightEntered(waiter: 1, now: now)
        return m
    }

    @Test func aFreshEntryIsAnsweredAndTheExchangeEnds() {
        var (m, mContext) = Self.machine()
        guard case .lookup = m.start(mContext) else { Issue.record("start looks the key up"); return }
        let stored = Self.entry(fresh: 10)
        guard case .answerFromCache(let answer) = m.lookupAnswered(stored, generations: nil, now: Self.now) else {
            Issue.record("a fresh entry answers"); return
        }
        #expect(answer.entry === stored && answer.staleDetail == nil && !answer.revalidate)
        #expect(m.isFinished)
        guard case .none = m.upstreamEnd() else { Issue.record("nothing after the end"); return }
    }

    @Test func aMissLeadsAFillThatBuffersAndCommits() {
        var (m, mContext) = Self.machine()
        _ = m.start(mContext)
        guard case .enterFlight = m.lookupAnswered(nil, generations: nil, now: Self.now) else { Issue.record("a miss enters a flight"); return }
        guard case .fill(let start) = m.flightEntered(waiter: nil, now: Self.now) else { Issue.record("the leader fetches"); return }
        #expect(start.revalidating == nil && start.leaving == nil)
        guard case .none = m.upstreamHead(Self.head(200, [("Content-Length", "4")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else {
            Issue.record("a storable answer is buffered"); return
        }
        guard case .consumed(2) = m.upstreamBody(ByteBuffer(string: "ab")) else { Issue.record("buffered bytes are taken"); return }
        guard case .consumed(2) = m.upstreamBody(ByteBuffer(string: "cd")) else { Issue.record("buffered bytes are taken"); return }
        guard case .commit(let filled) = m.upstreamEnd() else { Issue.record("the end commits"); return }
        #expect(String(buffer: filled.body) == "abcd" && filled.status == 200 && !filled.revalidated)
        #expect(!m.isFinished, "the answer waits for the commit")
        let answers = m.committed()
        #expect(answers && m.isFinished)
        let again = m.committed()
        #expect(!again, "one answer")
    }

    @Test func aWaiterLooksUpAgainWhenTheFillIsStoredAndNeverQueuesTwice() {
        var (m, mContext) = Self.machine()
        _ = m.start(mContext)
        _ = m.lookupAnswered(nil, generations: nil, now: Self.now)
        guard case .waitForFill(let bound) = m.flightEntered(waiter: 7, now: Self.now) else { Issue.record("waits"); return }
        #expect(bound == .seconds(7), "bounded by the route's upstreamTimeout")
        guard case .lookup = m.fillLanded(.stored, now: Self.now) else { Issue.record("looks up again"); return }
        guard case .none = m.waitTimedOut(now: Self.now) else { Issue.record("a timer after the landing does nothing"); return }
        guard case .none = m.fillLanded(.stored, now: Self.now) else { Issue.record("a second landing does nothing"); return }
        // Purged meanwhile: it fetches itself rather than queueing behind another fill.
        guard case .fill(let start) = m.lookupAnswered(nil, generations: nil, now: Self.now) else {
            Issue.record("fetches, no second wait"); return
        }
        #expect(start.leaving == nil)
    }

    @Test func aWaitThatTimesOutFetchesAndIgnoresALateLanding() {
        var (m, mContext) = Self.machine()
        _ = m.start(mContext)
        _ = m.lookupAnswered(nil, generations: nil, now: Self.now)
        _ = m.flightEntered(waiter: 7, now: Self.now)
        guard case .fill(let start) = m.waitTimedOut(now: Self.now) else { Issue.record("fetches on its own"); return }
        #expect(start.leaving == 7, "leaves the flight it waited on")
        guard case .none = m.fillLanded(.stored, now: Self.now) else { Issue.record("late landing ignored"); return }
    }

    @Test func aFailedFillAnswersStaleWhenAllowedElseTheError() {
        var (withStale, withStaleContext) = Self.machine(Self.route(staleIfError: .seconds(60)))
        _ = withStale.start(withStaleContext)
        let stale = Self.entry(fresh: -5, staleIfError: 30)
        guard case .enterFlight = withStale.lookupAnswered(stale, generations: nil, now: Self.now) else { Issue.record("too stale: fetch"); return }
        _ = withStale.flightEntered(waiter: 1, now: Self.now)
        // The fallback, to be asked about again (a purge elsewhere may have taken it).
        guard case .answerInstead(.upstreamTimeout, _, let fallback, _, _) = withStale.fillLanded(.failed(.upstreamTimeout("t"), queueAgain: false), now: Self.now) else {
            Issue.record("stale-if-error"); return
        }
        #expect(fallback === stale)

        var without = Self.waiting()
        guard case .answerInstead(.upstreamTimeout, _, nil, _, _) = without.fillLanded(.failed(.upstreamTimeout("t"), queueAgain: false), now: Self.now) else {
            Issue.record("the error"); return
        }
        #expect(without.isFinished)
    }

    /// A failure the upstream gives anyone (refused, timed out) is the waiters' answer;
    /// one it gave the leader's request after having it is not, once: they look up again
    /// and queue.
    @Test func waitersQueueAgainAfterAFailureOnTheLeadersRequestOnly() {
        var shared = Self.waiting()
        guard case .answerInstead(.upstreamUnavailable, _, nil, _, _) = shared.fillLanded(.failed(.upstreamUnavailable("refused"), queueAgain: false), now: Self.now) else {
            Issue.record("shared"); return
        }
        var m = Self.waiting()
        guard case .lookup = m.fillLanded(.failed(.upstreamUnavailable("reset"), queueAgain: true), now: Self.now) else {
            Issue.record("queues again"); return
        }
        _ = m.lookupAnswered(nil, generations: nil, now: Self.now)
        _ = m.flightEntered(waiter: 1, now: Self.now)
        guard case .answerInstead(.upstreamUnavailable, _, nil, _, _) = m.fillLanded(.failed(.upstreamUnavailable("reset"), queueAgain: true), now: Self.now) else {
            Issue.record("once"); return
        }
    }

    /// Queued again after a failure on the leader's request, a waiter still waits no
    /// longer than its first wait's bound, and then answers with that failure (the
    /// review's waiters had their answer 8.7 s after they came, past an 8 s bound).
    @Test func aWaiterQueuedAgainAfterAFailureKeepsItsFirstBound() {
        var m = Self.waiting()   // waiting since `now`, bound 7 s (the route's upstreamTimeout)
        let later = Self.now + .seconds(5)
        guard case .lookup = m.fillLanded(.failed(.upstreamUnavailable("reset"), queueAgain: true), now: later) else {
            Issue.record("queues again"); return
        }
        _ = m.lookupAnswered(nil, generations: nil, now: later)
        guard case .waitForFill(let bound) = m.flightEntered(waiter: 2, now: later) else { Issue.record("waits"); return }
        #expect(bound == .seconds(2))
        guard case .answerInstead(.upstreamUnavailable, _, nil, _, .failed(_, queueAgain: false)) = m.waitTimedOut(now: later + .seconds(2)) else {
            Issue.record("the failure, not a fetch of its own"); return
        }
        #expect(m.isFinished)
    }

    /// A waiter is told of a failure up to `upstreamTimeout` after its lookup: the stale
    /// entry answers only while its window is still open then.
    @Test func aFailureLandingPastTheStaleIfErrorWindowIsTheError() {
        var (m, mContext) = Self.machine(Self.route(staleIfError: .seconds(60)))
        _ = m.start(mContext)
        _ = m.lookupAnswered(Self.entry(fresh: -5, staleIfError: 30), generations: nil, now: Self.now)
        _ = m.flightEntered(waiter: 1, now: Self.now)
        guard case .answerInstead(.upstreamTimeout, _, nil, _, _) = m.fillLanded(.failed(.upstreamTimeout("t"), queueAgain: false), now: Self.now + .seconds(31)) else {
            Issue.record("the window closed while it waited: the error"); return
        }
    }

    /// A fill that stored nothing for a reason of its own (its client left, a purge
    /// overtook it): its waiters look up and queue again, a bounded number of times,
    /// instead of each fetching; not storable, or not stored for a reason the next fill
    /// shares: each fetches.
    @Test func waitersOfAFillThatStoredNothingQueueAgainBounded() {
        var (m, mContext) = Self.machine()
        _ = m.start(mContext)
        _ = m.lookupAnswered(nil, generations: nil, now: Self.now)
        for round in 1...ExchangeStateMachine.maxRejoins {
            _ = m.flightEntered(waiter: UInt64(round), now: Self.now)
            guard case .lookup = m.fillLanded(.queueAgain, now: Self.now) else {
                Issue.record("round \(round): looks up again"); return
            }
            guard case .enterFlight = m.lookupAnswered(nil, generations: nil, now: Self.now) else {
                Issue.record("round \(round): queues again"); return
            }
        }
        _ = m.flightEntered(waiter: 99, now: Self.now)
        guard case .fill = m.fillLanded(.queueAgain, now: Self.now) else {
            Issue.record("past the bound: fetches"); return
        }

        // Not storable; or not stored this time for a reason the next fill would share
        // (a Vary to learn, this request's credentials, the store unavailable).
        for result in [FlightResult.fetchYourself(uncacheable: true), .fetchYourself(uncacheable: false)] {
            var (n, nContext) = Self.machine()
            _ = n.start(nContext)
            _ = n.lookupAnswered(nil, generations: nil, now: Self.now)
            _ = n.flightEntered(waiter: 1, now: Self.now)
            guard case .fill = n.fillLanded(result, now: Self.now) else { Issue.record("\(result): fetches on its own"); return }
        }
    }

    @Test func upstreamFailureBeforeTheHeadIsAnAnswerAfterItACut() {
        var before = Self.filling()
        guard case .answerInstead(.upstreamUnavailable, _, nil, false, _) = before.upstreamFailed(.upstreamUnavailable("x"), onTheRequest: false, now: Self.now) else {
            Issue.record("an error answer"); return
        }
        var after = Self.filling()
        _ = after.upstreamHead(Self.head(200, [("Cache-Control", "no-store")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max)
        guard case .cut = after.upstreamFailed(.upstreamUnavailable("x"), onTheRequest: false, now: Self.now) else { Issue.record("a cut"); return }
        var ended = Self.filling()
        guard case .answerInstead = ended.upstreamEnd() else { Issue.record("an end without a head is never an empty answer"); return }
    }

    @Test func a5xxWithAStaleEntryServesItAndCancelsTheTransfer() {
        var (m, mContext) = Self.machine(Self.route(staleIfError: .seconds(60)))
        _ = m.start(mContext)
        let stale = Self.entry(fresh: -5, staleIfError: 30)
        _ = m.lookupAnswered(stale, generations: nil, now: Self.now)
        _ = m.flightEntered(waiter: nil, now: Self.now)
        guard case .answerInstead(_, _, let answer?, true, _) = m.upstreamHead(Self.head(503), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else {
            Issue.record("stale-if-error on a 5xx"); return
        }
        #expect(answer === stale && m.isFinished)
    }

    /// The bug this machine was written around: a 304's end used to finish the exchange
    /// while its commit (to Redis) was still pending, so the client got no answer.
    @Test func a304CommitsTheStoredEntryAndTheTransfersEndWaitsForIt() {
        var (m, mContext) = Self.machine()
        _ = m.start(mContext)
        let stored = Self.entry(fresh: -5, etag: true)
        _ = m.lookupAnswered(stored, generations: nil, now: Self.now)
        guard case .fill(let start) = m.flightEntered(waiter: nil, now: Self.now) else { Issue.record("fetches"); return }
        #expect(start.revalidating === stored, "conditionally")
        guard case .commit(let filled) = m.upstreamHead(Self.head(304, [("ETag", "\"v1\"")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else {
            Issue.record("a 304 refreshes the stored entry"); return
        }
        #expect(filled.revalidated && String(buffer: filled.body) == "ok" && filled.status == 200)
        guard case .none = m.upstreamEnd() else { Issue.record("the end waits for the commit"); return }
        guard case .none = m.upstreamFailed(.upstreamUnavailable("late"), onTheRequest: false, now: Self.now) else { Issue.record("so does a failure"); return }
        let answers = m.committed()
        #expect(answers)
    }

    @Test func tooLargeAnswersStreamAndFreeTheWaiters() {
        var declared = Self.filling(Self.route(maxBody: 4))
        guard case .sendHead(let start) = declared.upstreamHead(Self.head(200, [("Content-Length", "5")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else {
            Issue.record("streams"); return
        }
        #expect(start.mark.cacheStatus.contains("too-large") && start.framing == .length)
        guard case .fetchYourself(uncacheable: true)? = start.land else { Issue.record("waiters fetch themselves"); return }

        var grown = Self.filling(Self.route(maxBody: 4))
        _ = grown.upstreamHead(Self.head(200), now: Self.now, bodies: BodyMemory(), bodyLimit: .max)
        _ = grown.upstreamBody(ByteBuffer(string: "abc"))
        guard case .sendHead(let late) = grown.upstreamBody(ByteBuffer(string: "de")) else { Issue.record("streams after all"); return }
        #expect(late.body.map { String(buffer: $0) } == ["abc", "de"])
        #expect(late.unacknowledged == 2, "the buffered bytes were acknowledged already")
        guard case .sendBody(_, .chunked) = grown.upstreamBody(ByteBuffer(string: "f")) else { Issue.record("then chunk by chunk"); return }
        guard case .endBody(.chunked) = grown.upstreamEnd() else { Issue.record("and ends"); return }
    }

    @Test func aMutationsAnswerIsHeldUntilItsPurgeIsDone() {
        var m = Self.forwarding()
        guard case .forward = m.forward(marker: "sidecache; fwd=bypass") else { Issue.record("forwards"); return }
        guard case .purge = m.upstreamHead(Self.head(200, [("Content-Length", "4")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else { Issue.record("purges first"); return }
        guard case .none = m.upstreamBody(ByteBuffer(string: "ab")) else { Issue.record("held, not acknowledged"); return }
        _ = m.upstreamBody(ByteBuffer(string: "cd"))
        guard case .none = m.upstreamEnd() else { Issue.record("the end is held too"); return }
        #expect(!m.isFinished)
        guard case .sendHead(let start) = m.purged() else { Issue.record("then everything goes out"); return }
        #expect(start.body.map { String(buffer: $0) } == ["ab", "cd"] && start.unacknowledged == 4 && start.ended)
        #expect(start.mark.xCache == .bypass && start.mark.cacheStatus == "sidecache; fwd=bypass")
        #expect(m.isFinished)
        guard case .none = m.purged() else { Issue.record("once"); return }
    }

    @Test func theClientLeavingStopsEverything() {
        var (waiting, waitingContext) = Self.machine()
        _ = waiting.start(waitingContext)
        _ = waiting.lookupAnswered(nil, generations: nil, now: Self.now)
        _ = waiting.flightEntered(waiter: 3, now: Self.now)
        guard case .abandon(waiter: 3) = waiting.clientGone() else { Issue.record("leaves the flight"); return }
        guard case .none = waiting.fillLanded(.stored, now: Self.now) else { Issue.record("nothing after"); return }
        guard case .none = waiting.clientGone() else { Issue.record("once"); return }

        var committing = Self.filling()
        _ = committing.upstreamHead(Self.head(200), now: Self.now, bodies: BodyMemory(), bodyLimit: .max)
        _ = committing.upstreamEnd()
        guard case .abandon(waiter: nil) = committing.clientGone() else { Issue.record("abandons"); return }
        let answers = committing.committed()
        #expect(!answers, "no answer to a client that left")
    }

    @Test func onlyIfCachedStopsAMissOnAnOriginRoute() {
        var (m, mContext) = Self.machine(Self.route(ttl: .origin), headers: ["Cache-Control": "only-if-cached"])
        _ = m.start(mContext)
        guard case .fail(.onlyIfCached, _) = m.lookupAnswered(nil, generations: nil, now: Self.now) else { Issue.record("504"); return }
    }

    @Test func anUnknownVaryStreamsAndTeachesTheKey() {
        var m = Self.filling()
        guard case .sendHead(let start) = m.upstreamHead(Self.head(200, [("Vary", "X-Tenant"), ("Content-Length", "1")]), now: Self.now, bodies: BodyMemory(), bodyLimit: .max) else {
            Issue.record("streams"); return
        }
        #expect(start.learnVary == ["x-tenant"])
        guard case .fetchYourself(uncacheable: false)? = start.land else { Issue.record("not remembered as uncacheable"); return }
    }

    @Test(arguments: [
        (200, [("Content-Length", "3")], false, HTTPVersion.http1_1, BodyFraming.length),
        (200, [], false, .http1_1, .chunked),
        (200, [("Content-Length", "3"), ("Transfer-Encoding", "chunked")], false, .http1_1, .chunked),
        (200, [], false, .http1_0, .untilClose),
        (200, [("Content-Length", "3")], true, .http1_1, .none),
        (204, [], false, .http1_1, .none),
        (304, [], false, .http1_1, .none),
    ] as [(Int, [(name: String, value: String)], Bool, HTTPVersion, BodyFraming)])
    func framing(status: Int, headers: [(name: String, value: String)], isHEAD: Bool, version: HTTPVersion, expected: BodyFraming) {
        #expect(BodyFraming(status: status, headers: HeaderList(headers), isHEAD: isHEAD, version: version) == expected)
    }
}
