import NIOCore
import SidecacheTestSupport
import SidecacheUpstream
import Testing

/// Requests and responses against a live loopback origin.
@Suite struct UpstreamClientTests {
    @Test func getDeliversStatusHeadersAndBody() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/hello", .text("hello, world", status: 201, headers: [(name: "X-Thing", value: "one")]))

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/hello", headers: [(name: "Host", value: "example.test")]), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        #expect(recorder.violations.isEmpty)
        let head = try #require(recorder.head)
        #expect(head.status == 201)
        #expect(head.reason == "Created")
        #expect(head.headers.values(named: "X-Thing") == ["one"])
        #expect(head.headers.values(named: "Content-Length") == ["12"])
        #expect(recorder.body == Array("hello, world".utf8))
        #expect(origin.requests.first?.header("Host") == "example.test")
        try await origin.shutdown()
    }

    @Test func requestGoesOutExactlyAsGiven() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on(nil, "*", .text("ok"))
        let path = "/a/../b/%2F//c?q=1&q=2"

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + path, headers: [
            (name: "Host", value: "example.test"),
            (name: "x-lower-case", value: "Value"),
            (name: "X-Empty", value: ""),
            (name: "X-Twice", value: "1"),
            (name: "X-Twice", value: "2"),
        ]), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        let received = try #require(origin.requests.first)
        #expect(received.uri == path)
        #expect(received.headers.map(\.name) == ["Host", "x-lower-case", "X-Empty", "X-Twice", "X-Twice"])
        #expect(received.headers.map(\.value) == ["example.test", "Value", "", "1", "2"])
        try await origin.shutdown()
    }

    @Test func postBodyArrivesByteIdenticalWithNothingAdded() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("POST", "/upload", .text("stored"))
        // Past 1 MiB, where curl would add `Expect: 100-continue` and wait for a 100.
        let body = (0..<1_100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("POST", origin.baseURL + "/upload", headers: [
            (name: "Host", value: "example.test"), (name: "X-Request-Id", value: "abc"),
        ], body: body), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        #expect(recorder.body == Array("stored".utf8))
        let received = try #require(origin.requests.first)
        #expect(received.method == "POST")
        #expect(received.body == body)
        #expect(received.header("X-Request-Id") == "abc")
        #expect(received.header("Content-Length") == "1100000")
        // curl's own additions are suppressed; the one line added says the connection
        // is not kept after a body (`ActiveTransfer.leavesConnectionInDoubt`).
        #expect(received.header("Expect") == nil)
        #expect(received.header("Accept") == nil)
        #expect(received.header("Content-Type") == nil)
        #expect(received.headers.map(\.name) == ["Host", "X-Request-Id", "Connection", "Content-Length"])
        #expect(received.header("Connection") == "close")
        try await origin.shutdown()
    }

    @Test(arguments: ["PUT", "PATCH", "DELETE", "PURGE"])
    func otherMethodsGoOutAsGiven(method: String) async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on(nil, "/thing", .text("done"))

        let withBody = EventRecorder()
        withBody.start(upstreamRequest(method, origin.baseURL + "/thing", headers: [
            (name: "Host", value: "h"), (name: "Content-Type", value: "application/json"),
        ], body: Array(#"{"a":1}"#.utf8)), on: client)
        #expect(try await withBody.finish())
        #expect(withBody.ended)

        let withoutBody = EventRecorder()
        withoutBody.start(upstreamRequest(method, origin.baseURL + "/thing", headers: [(name: "Host", value: "h")]), on: client)
        #expect(try await withoutBody.finish())
        #expect(withoutBody.ended)

        let requests = origin.requests
        #expect(requests.map(\.method) == [method, method])
        #expect(requests.first?.text == #"{"a":1}"#)
        #expect(requests.first?.header("Content-Type") == "application/json")
        #expect(requests.last?.body == [])
        #expect(requests.last?.header("Content-Type") == nil)
        try await origin.shutdown()
    }

    @Test func headGivesHeadThenEndWithoutBody() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on(nil, "/doc", .text(String(repeating: "x", count: 5000)))

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("HEAD", origin.baseURL + "/doc", headers: [(name: "Host", value: "h")]), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        #expect(recorder.violations.isEmpty)
        #expect(recorder.head?.status == 200)
        #expect(recorder.head?.headers.values(named: "Content-Length") == ["5000"])
        #expect(recorder.bodyEvents == 0)
        #expect(origin.requests.first?.method == "HEAD")
        try await origin.shutdown()
    }

    @Test func chunkedBodyArrivesWithoutFraming() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/chunks", OriginResponse(body: .chunked([Array("abc".utf8), Array("defg".utf8)])))

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/chunks", headers: [(name: "Host", value: "h")]), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        #expect(recorder.body == Array("abcdefg".utf8))
        #expect(recorder.head?.headers.values(named: "Transfer-Encoding") == ["chunked"])
        try await origin.shutdown()
    }

    @Test func interimResponsesAreSkipped() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        var response = OriginResponse.text("final", headers: [(name: "X-Final", value: "yes")]).withEarlyHints(["</a.css>; rel=preload"])
        response.interim.insert((status: 100, headers: []), at: 0)
        origin.on("GET", "/hints", response)

        let recorder = EventRecorder()
        recorder.start(upstreamRequest("GET", origin.baseURL + "/hints", headers: [(name: "Host", value: "h")]), on: client)

        #expect(try await recorder.finish())
        #expect(recorder.ended)
        #expect(recorder.violations.isEmpty)
        let head = try #require(recorder.head)
        #expect(head.status == 200)
        #expect(head.headers.values(named: "X-Final") == ["yes"])
        #expect(head.headers.values(named: "Link").isEmpty)
        #expect(recorder.body == Array("final".utf8))
        try await origin.shutdown()
    }

    /// Once a transfer has ended, a small answer's bytes are taken as consumed without
    /// waiting for the consumer's write; a large one's still wait (`consumed`).
    @Test func anEndedSmallAnswerIsConsumedAtOnceALargeOneOnceWritten() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/small", .text("small"))
        origin.on("GET", "/large", .text(String(repeating: "x", count: 100_000)))

        for (path, atOnce) in [("/small", true), ("/large", false)] {
            let recorder = EventRecorder(autoConsume: false)
            let transfer = recorder.start(upstreamRequest("GET", origin.baseURL + path, headers: [(name: "Host", value: "h")]), on: client)
            #expect(try await recorder.finish())
            #expect(recorder.ended)
            #expect(transfer.consumedAtOnceIfEnded(recorder.unconsumed) == atOnce, "\(path)")
        }
        try await origin.shutdown()
    }

    @Test func sequentialRequestsReuseTheConnection() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/n", .text("n"))

        for _ in 0..<50 {
            let recorder = EventRecorder()
            recorder.start(upstreamRequest("GET", origin.baseURL + "/n", headers: [(name: "Host", value: "h")]), on: client)
            #expect(try await eventually { recorder.terminal != nil })
            #expect(recorder.ended)
        }
        #expect(origin.count("GET", path: "/n") == 50)
        #expect(origin.connectionsAccepted <= 2)
        try await origin.shutdown()
    }

    /// A request started on its event loop wakes the curl thread once the loop's pass is
    /// done (`CurlMailbox.post(_:from:)`), not later: a wake-up lost or never queued again
    /// would leave each to curl's one-second poll, some 30 s for these 30.
    @Test func requestsStartedOnTheirEventLoopAreNotHeldBack() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/n", .text("n"))

        let started = ContinuousClock.now
        for _ in 0..<30 {
            let recorder = EventRecorder()
            try await testEventLoop.submit {
                recorder.start(upstreamRequest("GET", origin.baseURL + "/n", headers: [(name: "Host", value: "h")]), on: client)
            }.get()
            #expect(try await eventually { recorder.terminal != nil })
            #expect(recorder.ended)
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(origin.count("GET", path: "/n") == 30)
        try await origin.shutdown()
    }

    /// Easy handles are parked and reused: one transfer's method, body or request
    /// target must never leak into the next one's.
    @Test func aReusedHandleCarriesNothingIntoTheNextTransfer() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on(nil, "*", .text("ok"))
        var asterisk = upstreamRequest("OPTIONS", origin.baseURL + "/", headers: [(name: "Host", value: "h")])
        asterisk.requestTarget = "*"
        let sequence: [UpstreamRequest] = [
            upstreamRequest("POST", origin.baseURL + "/a", headers: [(name: "Host", value: "h")], body: Array("first".utf8)),
            upstreamRequest("HEAD", origin.baseURL + "/b", headers: [(name: "Host", value: "h")]),
            upstreamRequest("GET", origin.baseURL + "/c", headers: [(name: "Host", value: "h")]),
            upstreamRequest("PUT", origin.baseURL + "/d", headers: [(name: "Host", value: "h")], body: Array("second".utf8)),
            upstreamRequest("DELETE", origin.baseURL + "/e", headers: [(name: "Host", value: "h")]),
            asterisk,
            upstreamRequest("GET", origin.baseURL + "/f", headers: [(name: "Host", value: "h")]),
            upstreamRequest("POST", origin.baseURL + "/g", headers: [(name: "Host", value: "h")]),
            upstreamRequest("GET", origin.baseURL + "/h", headers: [(name: "Host", value: "h")]),
            // A HEAD then a POST (NOBODY must not stay), a URL curl gets whole (a
            // fragment: no origin handle) between targets sent with one.
            upstreamRequest("HEAD", origin.baseURL + "/i", headers: [(name: "Host", value: "h")]),
            upstreamRequest("POST", origin.baseURL + "/j", headers: [(name: "Host", value: "h")], body: Array("third".utf8)),
            upstreamRequest("GET", origin.baseURL + "/k#part", headers: [(name: "Host", value: "h")]),
            upstreamRequest("GET", origin.baseURL + "/l", headers: [(name: "Host", value: "h")]),
        ]
        for request in sequence {
            let recorder = EventRecorder()
            recorder.start(request, on: client)
            // Not `finish()`: its probe transfer would take (and, failing, free) the
            // handle each request parks for the next, and nothing would be reused.
            let finished = try await recorder.waitForTerminal()
            #expect(finished)
            #expect(recorder.ended)
        }

        let received = origin.requests
        #expect(received.map(\.method) == ["POST", "HEAD", "GET", "PUT", "DELETE", "OPTIONS", "GET", "POST", "GET",
                                            "HEAD", "POST", "GET", "GET"])
        #expect(received.map(\.uri) == ["/a", "/b", "/c", "/d", "/e", "*", "/f", "/g", "/h", "/i", "/j", "/k", "/l"])
        #expect(received.map(\.text) == ["first", "", "", "second", "", "", "", "", "", "", "third", "", ""])
        #expect(received.map { $0.header("Content-Length") } == ["5", nil, nil, "6", nil, nil, nil, "0", nil, nil, "5", nil, nil])
        // Clearing POSTFIELDS on reuse left curl in POST mode: a body-less DELETE or OPTIONS
        // after it went out as a chunked upload of the process's stdin (which stalls the
        // curl thread when stdin is an open pipe or a terminal), with curl's form type.
        #expect(received.allSatisfy { $0.header("Transfer-Encoding") == nil }, "\(received.map { $0.header("Transfer-Encoding") })")
        #expect(received.allSatisfy { $0.header("Content-Type") == nil }, "\(received.map { $0.header("Content-Type") })")
        try await origin.shutdown()
    }

    @Test func concurrentRequestsAllComplete() async throws {
        let origin = try await ScriptedOrigin.start()
        let client = try UpstreamClient()
        defer { client.shutdown() }
        origin.on("GET", "/c/*") { request in .text(request.path) }

        let recorders = (0..<32).map { _ in EventRecorder() }
        for (i, recorder) in recorders.enumerated() {
            recorder.start(upstreamRequest("GET", origin.baseURL + "/c/\(i)", headers: [(name: "Host", value: "h")]), on: client)
        }
        for (i, recorder) in recorders.enumerated() {
            #expect(try await recorder.finish())
            #expect(recorder.ended)
            #expect(recorder.violations.isEmpty)
            #expect(recorder.body == Array("/c/\(i)".utf8))
        }
        try await origin.shutdown()
    }
}
