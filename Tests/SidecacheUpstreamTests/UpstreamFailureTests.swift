import NIOCore
import SidecacheTestSupport
import SidecacheUpstream
import Testing

/// Every way a transfer can fail ends in exactly one `.failure` of the right kind.
@Suite struct UpstreamFailureTests {
    @Test func refusedConnectionIsAConnectFailure() async throws {
        let client = try UpstreamClient()
        defer { client.shutdown() }
        let refusing = try RefusingPort()   // bound, never listening: refuses while it lives
        defer { withExtendedLifetime(refusing) {} }
        let port = refusing.port

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", "http://127.0.0.1:\(port)/x"), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.violations.isEmpty)
        #expect(recorder.head == nil)
        let failure = try #require(recorder.failure)
        #expect(failure.kind == .connect)
        #expect(!failure.requestSent, "nothing went out: a mutation refused so is not in doubt")
        #expect(failure.detail == "connect to 127.0.0.1:\(port) refused")
    }

    @Test func slowHeadTimesOut() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/slow", OriginResponse.text("late").delayed(.seconds(12)))

        let clock = ContinuousClock()
        let started = clock.now
        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/slow", headTimeout: .milliseconds(300)), on: client)

        #expect(try await eventually(timeout: .seconds(30)) { recorder.terminal != nil })
        let elapsed = clock.now - started
        #expect(try await recorder.finish())
        #expect(recorder.violations.isEmpty)
        let failure = try #require(recorder.failure)
        #expect(failure.kind == .timeout)
        #expect(failure.detail == "no response head within 300ms")
        #expect(failure.requestSent, "the request went out: a mutation so is in doubt")
        // Not before the limit; after it, before the origin's answer at 12 s (a loaded
        // machine is slow, not wrong: 3.2 and 4.1 s were seen against a 3 s bound).
        #expect(elapsed >= .milliseconds(250))
        #expect(elapsed < .seconds(10))
        try await origin.shutdown()
    }

    @Test func silentBodyTimesOutAfterTheHead() async throws {
        let origin = try await RawOrigin.start(
            answer: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes", thenClose: false)
        let client = try UpstreamClient()
        defer { client.shutdown() }

        let clock = ContinuousClock()
        let started = clock.now
        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/stall", idleBodyTimeout: .seconds(1)), on: client)

        #expect(try await eventually(timeout: .seconds(30)) { recorder.terminal != nil })
        let elapsed = clock.now - started
        // Not before the limit; after it, within ten limits (a loaded machine is slow, not wrong).
        #expect(elapsed >= .milliseconds(900))
        #expect(elapsed < .seconds(10))
        #expect(try await recorder.finish())
        #expect(recorder.violations.isEmpty)
        #expect(recorder.head?.status == 200)
        #expect(recorder.body == Array("first bytes".utf8))
        let failure = try #require(recorder.failure)
        #expect(failure.kind == .timeout)
        #expect(failure.detail == "no body data for 1s")
        await origin.shutdown()
    }

    @Test func truncatedBodyIsAProtocolError() async throws {
        let origin = try await RawOrigin.start(
            answer: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this", thenClose: true)
        let client = try UpstreamClient()
        defer { client.shutdown() }

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/cut"), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.violations.isEmpty)
        #expect(recorder.head?.status == 200)
        #expect(recorder.failure?.kind == .protocolError)
        await origin.shutdown()
    }

    @Test func emptyReplyIsAProtocolError() async throws {
        let origin = try await RawOrigin.start(answer: "", thenClose: true)
        let client = try UpstreamClient()
        defer { client.shutdown() }

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/nothing"), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.head == nil)
        #expect(recorder.failure?.kind == .protocolError)
        await origin.shutdown()
    }

    @Test func shutdownFailsTransfersInFlightAndLaterOnes() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        origin.on("GET", "/slow", OriginResponse.text("late").delayed(.seconds(5)))

        let inFlight = EventRecorder()
        inFlight.start(upstreamRequest("GET", origin.baseURL + "/slow"), on: client)
        #expect(try await eventually { origin.totalCount == 1 })
        client.shutdown()
        client.shutdown()

        #expect(try await inFlight.finish())
        #expect(inFlight.violations.isEmpty)
        #expect(inFlight.failure?.kind == .cancelled)

        let late = EventRecorder()
        late.start(upstreamRequest("GET", origin.baseURL + "/slow"), on: client)
        #expect(try await late.finish())
        #expect(late.failure?.kind == .cancelled)
        try await origin.shutdown()
    }
}

/// Hardening II §1: a transfer that failed leaves nothing behind for the next one.
@Suite struct UpstreamIsolationTests {
    @Test(arguments: ["*", " bad", "x\u{7F}"])
    func aFailedTransferDoesNotPoisonLaterOnes(badTarget: String) async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient(maxConnections: 4)
        defer { client.shutdown() }
        origin.on("GET", "/ok", .text("ok"))
        let bad = EventRecorder()
        bad.start(upstreamRequest("GET", origin.baseURL + badTarget), on: client)
        #expect(try await bad.finish())
        #expect(bad.failure != nil, "\(badTarget.debugDescription) was accepted")
        for _ in 0..<8 {   // more than the handles that could have been parked
            let good = EventRecorder()
            good.start(upstreamRequest("GET", origin.baseURL + "/ok"), on: client)
            #expect(try await good.finish())
            #expect(good.failure == nil, "after \(badTarget.debugDescription): \(good.failure.map(String.init(describing:)) ?? "")")
            #expect(good.head?.status == 200)
        }
        try await origin.shutdown()
    }
}
