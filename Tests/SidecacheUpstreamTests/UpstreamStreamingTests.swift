import NIOCore
import SidecacheTestSupport
import SidecacheUpstream
import Testing

/// Large bodies, backpressure and cancellation.
@Suite struct UpstreamStreamingTests {
    private static let size = 20 << 20

    /// A consumer that reports what it has consumed only every 20 ms, so curl runs
    /// into the high-water mark again and again and must pause and resume.
    @Test(arguments: [false, true])
    func largeBodyArrivesIntactWithALateConsumer(chunked: Bool) async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        let expected = OriginResponse.generatedBytes(count: Self.size)
        let body: OriginResponse.Body = chunked
            ? .chunked(stride(from: 0, to: Self.size, by: 100_000).map { Array(expected[$0..<min($0 + 100_000, Self.size)]) })
            : .generated(count: Self.size)
        origin.on("GET", "/big", OriginResponse(body: body))

        let recorder = EventRecorder(autoConsume: false)
        recorder.start(upstreamRequest("GET", origin.baseURL + "/big"), on: client)
        // Nothing is consumed until delivery has run into the high-water mark (an
        // event, whatever the machine's speed); from then on, consumption lags.
        #expect(try await eventually(timeout: .seconds(60)) { recorder.unconsumed > 1 << 20 })
        let deadline = ContinuousClock.now + .seconds(60)
        while recorder.terminal == nil && ContinuousClock.now < deadline {
            recorder.consumeAll()
            try await Task.sleep(for: .milliseconds(20))
        }

        #expect(recorder.ended)
        #expect(recorder.violations.isEmpty)
        let received = recorder.body
        // Compared as one Bool: a failed #expect on two arrays this large diffs them for hours.
        let intact = received == expected
        #expect(intact, "\(received.count) of \(Self.size) bytes, not the origin's")
        // Backpressure held: never more than the high-water mark plus one chunk
        // (at most CURLOPT_BUFFERSIZE, 64 KiB) was outstanding.
        #expect(recorder.maxUnconsumed <= (1 << 20) + (64 << 10))
        try await origin.shutdown()
    }

    /// Time spent paused by backpressure is not idle time.
    @Test func pausedLongerThanTheIdleTimeoutStillCompletes() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/big", OriginResponse(body: .generated(count: 4 << 20)))

        // Long enough that a loaded machine (the whole suite runs at once) does not starve
        // the in-process origin for a whole idle limit before the transfer pauses.
        let idle = TimeAmount.seconds(3)
        let recorder = EventRecorder(autoConsume: false)
        recorder.start(upstreamRequest("GET", origin.baseURL + "/big", idleBodyTimeout: idle), on: client)
        #expect(try await eventually(timeout: .seconds(60)) { recorder.unconsumed > 1 << 20 })   // at the high-water mark: paused
        // A negative (nothing may end the paused transfer), so a bounded wait: four idle
        // limits, ample for a wrongly running idle timer to fire; it returns at once if anything ends it.
        let ended = try await eventually(timeout: .nanoseconds(4 * idle.nanoseconds)) { recorder.terminal != nil }
        #expect(!ended, "ended while paused: \(String(describing: recorder.terminal))")
        let deadline = ContinuousClock.now + .seconds(30)
        while recorder.terminal == nil && ContinuousClock.now < deadline {
            recorder.consumeAll()
            try await Task.sleep(for: .milliseconds(5))
        }

        #expect(recorder.ended)
        let intact = recorder.body == OriginResponse.generatedBytes(count: 4 << 20)
        #expect(intact, "\(recorder.body.count) of \(4 << 20) bytes, not the origin's")
        try await origin.shutdown()
    }

    @Test func cancelMidBodyEndsOnceWithCancelled() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/big", OriginResponse(body: .generated(count: 64 << 20)))

        let recorder = EventRecorder(autoConsume: false)
        let transfer = recorder.start(upstreamRequest("GET", origin.baseURL + "/big"), on: client)
        #expect(try await eventually { recorder.bodyEvents > 0 })
        transfer.cancel()
        transfer.cancel()

        #expect(try await recorder.finish())
        transfer.cancel()
        transfer.consumed(recorder.unconsumed)   // would resume a transfer that still ran
        #expect(try await recorder.settle())   // the client has handled both
        #expect(recorder.violations.isEmpty)
        #expect(recorder.failure?.kind == .cancelled)
        #expect(recorder.body.count < 64 << 20)
        try await origin.shutdown()
    }

    @Test func cancelBeforeAnythingArrives() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/slow", OriginResponse.text("late").delayed(.seconds(5)))

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/slow"), on: client).cancel()

        #expect(try await recorder.finish())
        #expect(recorder.violations.isEmpty)
        #expect(recorder.head == nil)
        #expect(recorder.failure?.kind == .cancelled)
        try await origin.shutdown()
    }

    @Test func cancelAfterTheEndChangesNothing() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/small", .text("small"))

        let recorder = EventRecorder()
        let transfer = recorder.start(upstreamRequest("GET", origin.baseURL + "/small"), on: client)
        #expect(try await recorder.finish())
        transfer.cancel()
        #expect(try await recorder.settle())   // the client has handled the cancel

        #expect(recorder.ended)
        #expect(recorder.violations.isEmpty)
        try await origin.shutdown()
    }
}
