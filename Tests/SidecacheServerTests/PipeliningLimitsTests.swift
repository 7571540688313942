import Foundation
import Glibc
import SidecacheMetrics
@testable import SidecacheServer
import SidecacheTestSupport
import Synchronization
import Testing

/// Pipelining at depth: the queue of pipelined requests is bounded, drained without
/// recursing once per request, and a client that pipelines without end but never reads
/// gets a bounded number of answers (DESIGN's bounded memory), not as many as the proxy
/// can write into its outbound buffer.
@Suite("Pipelining limits: deep queues and clients that never read")
struct PipeliningLimitsTests {
    static let hot = "GET /hot HTTP/1.1\r\nHost: a\r\n\r\n"
    static let slow = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"

    /// Counts responses in a byte stream that only grows (megabytes here) by their status
    /// lines, looking at each byte once however often it is called.
    struct StatusLineCounter {
        let needle: [UInt8]
        private(set) var count = 0
        /// Every match starting before this position is counted.
        private var scanned = 0

        init(_ prefix: String) { needle = Array(prefix.utf8) }

        mutating func update(with bytes: [UInt8]) -> Int {
            let needle = self.needle
            let last = bytes.count - needle.count   // the last position a whole match can start at
            var i = scanned
            var found = count
            bytes.withUnsafeBufferPointer { b in
                while i <= last {
                    if b[i] == needle[0] {
                        var j = 1
                        while j < needle.count && b[i + j] == needle[j] { j += 1 }
                        if j == needle.count {
                            found += 1
                            i += j
                            continue
                        }
                    }
                    i += 1
                }
            }
            scanned = max(scanned, i)
            count = found
            return found
        }
    }

    /// A client that pipelines `request` without end, in small paced batches, and never
    /// reads a byte. Plain POSIX on its own thread: nothing reads for it, and its sends
    /// never block (a proxy that stops reading leaves it retrying, not hanging).
    final class Flood: Sendable {
        let fd: Int32
        let requestBytes: Int
        private let stopping = Atomic<Bool>(false)
        private let stopped = Atomic<Bool>(false)
        private let sentBytes = Atomic<Int>(0)

        /// `batch` requests per send, then a `pause`: slower than the proxy answers hits,
        /// so each of its reads holds only a few batches.
        init(port: Int, request: String, batch: Int, pauseMicros: UInt32) throws {
            fd = try LoopbackSocket.connect(port: port, receiveBuffer: 4096)
            requestBytes = request.utf8.count
            let bytes = Array(String(repeating: request, count: batch).utf8)
            Thread { [self] in self.run(bytes, pauseMicros: pauseMicros) }.start()
        }

        private func run(_ batch: [UInt8], pauseMicros: UInt32) {
            let flags = Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)
            var offset = 0   // the stream is `batch` repeated: a partial send resumes inside it
            while !stopping.load(ordering: .relaxed) {
                let n = batch.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, flags) }
                if n > 0 {
                    _ = sentBytes.add(n, ordering: .relaxed)
                    offset = (offset + n) % batch.count
                    if offset == 0 { usleep(pauseMicros) }
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                    usleep(2_000)   // the proxy stopped reading: its buffers and ours are full
                } else {
                    break   // the proxy closed the connection
                }
            }
            stopped.store(true, ordering: .releasing)
        }

        /// Whole requests handed to the kernel so far.
        var sentRequests: Int { sentBytes.load(ordering: .relaxed) / requestBytes }

        /// Stops the thread, then closes the socket: with answers unread in it, the close
        /// is a reset, so the proxy drops whatever it still held for this client.
        func stop() async {
            stopping.store(true, ordering: .relaxed)
            _ = try? await eventually(timeout: .seconds(10)) { [self] in stopped.load(ordering: .acquiring) }
            close(fd)
        }
    }

    /// The loop that answers queued pipelined requests called itself through each
    /// synchronous answer (a memory hit: `receive(.end)` → `Exchange.start` → … →
    /// `finish` → `responseFinished` → the loop again), one level of stack per queued
    /// request, so a deep queue behind one slow answer killed the process (SIGSEGV).
    /// Then the queue had no bound: one read event takes in up to 16 reads growing to
    /// 64 KiB (some 20 000 tiny requests), all parsed and queued at once, about 5 MB a
    /// connection, and a few hundred connections took the process past a gigabyte.
    /// Run as the real executable, so a crash cannot take the test runner with it.
    ///
    /// A first pass-through waits on the origin with one hit behind it, so the proxy
    /// stops reading; the burst (a second slow pass-through, then 25 000 hits) waits
    /// whole in the kernel and arrives in one read event once the first answer is out.
    /// The proxy queues `PipelinedRequests.maxRequests` hits behind the second slow answer, answers
    /// them, and closes: the rest are the client's to send again (RFC 9112 §9.3.2).
    @Test func aDeepPipelinedBurstIsAnsweredUpToTheQueueBoundThenClosed() async throws {
        let origin = try await ScriptedOrigin.start()
        defer { Task { try? await origin.shutdown() } }
        origin.on("GET", "/hot", .text("hot"))
        origin.on("GET", "/slow", OriginResponse.text("slow").delayed(.seconds(1)))
        let config = try writeTempConfig("""
        { "listen": "127.0.0.1:0", "upstream": "\(origin.baseURL)",
          "routes": [{ "name": "hot", "match": "GET /hot", "ttl": "5m" }] }
        """)
        defer { try? FileManager.default.removeItem(atPath: config) }
        #expect(FileManager.default.isExecutableFile(atPath: LifecycleTests.binary), "build the executable first")
        let process = try ManagedProcess(LifecycleTests.binary, arguments: ["run", "--config", config])
        defer { process.kill() }
        #expect(await process.waitForOutput(containing: "listening", timeout: .seconds(60)))
        let port = try #require(LifecycleTests.boundPort(in: process.output), "\(process.output)")

        // /hot stored under Host a (the host of every pipelined request), so each is a hit
        // answered from memory at once, on the connection's own event loop.
        let hostA = [(name: "Host", value: "a")]
        try #require(try await eventually(timeout: .seconds(20)) {
            (try? await TestHTTPClient.request(port: port, "GET", "/hot", headers: hostA))?.header("X-Cache") == "HIT"
        }, "/hot must be a hit before the burst, or the burst is misses that wait on a fill")

        let conn = try await RawConnection.connect(port: port)
        try await conn.send(Self.slow + Self.hot)
        try #require(try await eventually { origin.count(path: "/slow") == 1 }, "the first /slow reaches the origin")
        let depth = 25_000
        try await conn.send(Self.slow + String(repeating: Self.hot, count: depth))
        let expected = 1 + 1 + 1 + PipelinedRequests.maxRequests   // /slow, its queued hit, /slow, the bound

        let (received, closed) = try await conn.readUntilClose(timeout: .seconds(60))
        var answers = StatusLineCounter("HTTP/1.1 ")
        var oks = StatusLineCounter("HTTP/1.1 200 ")
        let answered = answers.update(with: received)
        let answeredOK = oks.update(with: received)
        if !process.isRunning { _ = await process.waitForExit(timeout: .seconds(2)) }   // a crash: let it be reaped

        #expect(process.isRunning, """
            the proxy died (exit status \(process.exitStatus.map { String($0) } ?? "-"); 139 is SIGSEGV) draining \
            pipelined hits queued behind a slow answer, after \(answered) answers. Output: \(process.output.suffix(2000))
            """)
        #expect(closed, "the connection closes once the queued requests are answered")
        #expect(answered == expected && answeredOK == expected,
                "\(answeredOK) of \(answered) answers were 200; \(expected) expected: the queued ones, none past the bound")
        #expect(origin.count(path: "/slow") == 2, "both pass-throughs reached the origin; the hits did not")
        let fresh = try? await TestHTTPClient.request(port: port, "GET", "/hot", headers: hostA, timeout: .seconds(10))
        #expect(fresh?.status == 200 && fresh?.text == "hot", "the proxy still answers a new connection after the burst")
    }

    /// Up to the bound, pipelining is untouched: every request answered, the connection
    /// kept. One past it: the queued ones are answered and the connection closes.
    @Test(arguments: [0, 1])
    func theQueueBoundIsExact(past: Int) async throws {
        try await withProxy(routes: #"[{ "name": "hot", "match": "GET /hot", "ttl": "5m" }]"#) { h in
            h.origin.on("GET", "/hot", .text("hot"))
            h.origin.on("GET", "/slow", OriginResponse.text("slow").delayed(.milliseconds(500)))
            let queued = PipelinedRequests.maxRequests + past
            let conn = try await RawConnection.connect(port: h.port)
            try await conn.send(Self.slow + String(repeating: Self.hot, count: queued))
            let expected = 1 + PipelinedRequests.maxRequests
            let answers = try await conn.readResponses(expected, timeout: .seconds(30))
            #expect(answers.count == expected && answers.allSatisfy { $0.status == 200 })
            #expect(answers.last?.text == "hot")
            if past == 0 {
                try await conn.send(Self.hot)
                #expect(try await conn.readResponses(1, timeout: .seconds(30)).first?.text == "hot",
                        "a connection within the bound is kept")
            } else {
                let (rest, closed) = try await conn.readUntilClose(timeout: .seconds(30))
                #expect(closed)
                var more = StatusLineCounter("HTTP/1.1 ")
                #expect(more.update(with: rest) == 0, "nothing answered past the bound")
            }
        }
    }

    /// Reading stopped only while an answer was under way with a request queued behind
    /// it; a hit answers at once and returns the connection to idle, so for a client
    /// that pipelines hits and never reads, the proxy read on and wrote every answer into
    /// NIO's outbound buffer, without bound (nothing looked at `isWritable`). Once the
    /// answers back up, the proxy must stop reading and answering that client.
    ///
    /// Each answer carries a 16 KiB body: the kernel's socket buffers alone take about
    /// 3 MiB on loopback (tcp_wmem's 4 MiB ceiling) before the channel even turns
    /// unwritable, which is under 200 such answers, plus 4 for NIO's 64 KiB high-water
    /// mark, and a few paced batches already read. 2 000 answers (32 MiB) are far past
    /// what any buffer holds; an unbounded proxy passes them within a second.
    @Test func aClientThatNeverReadsGetsABoundedNumberOfAnswers() async throws {
        let bound = 2_000
        try await withProxy(routes: #"[{ "name": "hot", "match": "GET /hot", "ttl": "5m" }]"#) { h in
            let body = String(repeating: "h", count: 16 << 10)
            h.origin.on("GET", "/hot", .text(body))
            let hostA = [(name: "Host", value: "a")]
            try #require(try await eventually {
                try await h.get("/hot", headers: hostA).header("X-Cache") == "HIT"
            }, "/hot must be a hit: hits answer at once, which is what let the proxy read on")
            let hits = { h.proxy.engine.metrics.figures(route: "hot").hits }
            let before = hits()

            // About 10 000 requests a second, in batches of 50: each read of the proxy
            // holds a few batches, so stopping on the next read already bounds it.
            let flood = try Flood(port: h.port, request: Self.hot, batch: 50, pauseMicros: 5_000)
            let clock = ContinuousClock()
            let end = clock.now.advanced(by: .seconds(3))
            while clock.now < end && hits() - before < bound {
                try? await Task.sleep(for: .milliseconds(100))
            }
            let answered = hits() - before
            await flood.stop()
            let offered = flood.sentRequests

            #expect(offered > 2 * bound, "the client offered \(offered) requests: more than the bound, or the test proves nothing")
            #expect(answered > 0, "the flood's requests reached the proxy and were hits")
            #expect(answered < bound, """
                the proxy answered \(answered) of \(offered) pipelined requests (16 KiB each) to a client that read \
                none of them: once its answers back up (the channel is not writable) it must stop reading and \
                answering that client, not buffer answers without bound
                """)
            let after = try await h.get("/hot", headers: hostA)
            #expect(after.status == 200 && after.header("X-Cache") == "HIT", "other clients are still answered")
        }
    }
}
