import Testing
@testable import SidecacheServer
import SidecacheTestSupport

/// `limits.bodyMemory`: request bodies (read whole before they are forwarded) and fills
/// (collected whole before they are stored) are each bounded by their route's limit, but
/// their sum across connections was not. 1 000 connections each holding most of a
/// large body took the process to about 900 MB; in a container that is an OOM kill, and
/// every other client's answers go with it.
@Suite("Bodies held at once: limits.bodyMemory")
struct BodyMemoryTests {
    @Test func aHoldGrowsWithinTheLimitAndGivesItsShareBack() {
        let memory = BodyMemory()
        var first: BodyMemory.Hold? = memory.hold(within: 100)
        #expect(first?.grow(to: 60) == true)
        #expect(first?.grow(to: 40) == true, "a share never shrinks while its body lives")
        #expect(memory.bytes == 60)
        let second = memory.hold(within: 100)
        #expect(second.grow(to: 50) == false, "60 + 50 is past 100")
        #expect(memory.bytes == 60, "a refused share takes nothing")
        #expect(second.grow(to: 40))
        #expect(memory.bytes == 100)
        first = nil
        #expect(memory.bytes == 40)
        withExtendedLifetime(second) {}
    }

    @Test func aBodyAloneIsAlwaysTaken() {
        let memory = BodyMemory()
        do {
            let alone = memory.hold(within: 100)
            #expect(alone.grow(to: 60))
            #expect(alone.grow(to: 500), "a limit below a route's size limit must not refuse its largest bodies outright")
            #expect(alone.grow(to: 900), "nor stop one as it grows")
            #expect(!memory.hold(within: 100).grow(to: 1))
        }
        #expect(memory.bytes == 0)
    }

    /// Bodies sent but for their last bytes, then a byte at a time, held the budget for as
    /// long as their senders liked (the idle timeout restarts at each byte), and every
    /// other upload got 503 meanwhile (found by the isolation audit). Now a body that
    /// finds no memory has the one stalled longest (no 16 KiB of progress in 5 s) cut;
    /// the refused client's retry gets through.
    @Test func bodiesThatStallMakeWayForOnesThatArrive() async throws {
        try await withProxy(extra: #""limits": { "bodyMemory": "256KiB", "idleTimeout": "60s" }"#) { h in
            h.origin.on("POST", "/upload", .text("ok"))
            let engine = h.proxy.engine
            var stalled: [RawConnection] = []
            for _ in 0..<2 {
                let c = try await RawConnection.connect(port: h.port)
                try await c.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 204800\r\n\r\n")
                try await c.send([UInt8](repeating: 0x61, count: 120 << 10))
                stalled.append(c)
            }
            #expect(try await eventually { engine.bodies.bytes >= 240 << 10 }, "\(engine.bodies.bytes) bytes held")
            for round in 0..<8 {   // a trickle keeps the connections alive, and is no progress
                for c in stalled { try await c.send("a") }
                try await Task.sleep(for: .seconds(1))
                _ = round
            }
            let body = [UInt8](repeating: 0x62, count: 64 << 10)
            let first = try await h.send("POST", "/upload", body: body)
            #expect(first.status == 503, "the budget is full when it comes")
            #expect(try await eventually { (try? await h.send("POST", "/upload", body: body).status) == 200 }, "its retry gets through")
            let held = stalled
            #expect(try await eventually { held.contains(where: \.isClosed) }, "a stalled body was cut")
            #expect(h.origin.count("POST", path: "/upload") >= 1)
            for c in stalled { try? await c.close() }
        }
    }

    static let routes = #"[{ "name": "report", "match": "GET /report", "ttl": "5m" }]"#
    static let limit = #""limits": { "bodyMemory": "1MiB" }"#

    @Test func bodiesPastTheLimitAreRefusedOrPassedOnAndTheMemoryComesBack() async throws {
        try await withProxy(routes: Self.routes, extra: Self.limit) { h in
            h.origin.on("POST", "/upload", .text("ok"))
            let report = OriginResponse.generatedBytes(count: 200 << 10)
            h.origin.on("GET", "/report", OriginResponse(headers: [("Content-Type", "application/octet-stream")],
                                                          body: .generated(count: 200 << 10)))
            let engine = h.proxy.engine

            // One client holds 900 KiB of an announced 2 MiB body and sends no more.
            let holder = try await RawConnection.connect(port: h.port)
            try await holder.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 2097152\r\n\r\n")
            try await holder.send([UInt8](repeating: 0x61, count: 900 << 10))
            #expect(try await eventually { engine.bodies.bytes >= 900 << 10 }, "\(engine.bodies.bytes) bytes held")

            let refused = try await h.send("POST", "/upload", body: [UInt8](repeating: 0x62, count: 200 << 10))
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(refused.text.contains("\"overloaded\""), "\(refused.text)")
            #expect(h.origin.count("POST", path: "/upload") == 0)

            // A fill meanwhile passes its answer on whole, not stored.
            let passed = try await h.get("/report")
            #expect(passed.status == 200)
            #expect(passed.body == report)
            #expect(passed.header("Cache-Status")?.contains("detail=body-memory") == true, "\(passed.headers)")

            try await holder.close()
            #expect(try await eventually { engine.bodies.bytes == 0 }, "\(engine.bodies.bytes) bytes still held")

            let accepted = try await h.send("POST", "/upload", body: [UInt8](repeating: 0x62, count: 200 << 10))
            #expect(accepted.status == 200)
            #expect(try await h.get("/report").header("X-Cache") == "MISS", "the refused fill was not remembered as unstorable")
            let hit = try await h.get("/report")
            #expect(hit.header("X-Cache") == "HIT")
            #expect(hit.body == report)
            #expect(h.origin.count("GET", path: "/report") == 2)
            #expect(try await eventually { engine.bodies.bytes == 0 }, "answered and stored bodies give their share back")
        }
    }
}
