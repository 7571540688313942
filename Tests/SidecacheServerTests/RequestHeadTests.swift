import NIOHTTP1
@testable import SidecacheConfig
@testable import SidecacheServer
import Testing

/// The checks every request head passes, as functions of the head alone.
struct RequestHeadTests {
    /// Fields named with `_` are dropped in one pass: removed one name at a time, each
    /// removal scanned every field, and 3 000 distinct names in one 32 KiB head held an
    /// event loop for a second (the debug build), stalling every client on it.
    @Test func underscoredFieldsAreDroppedInLinearTime() {
        var limits = Limits()
        limits.headerBytes = 1 << 20
        var headers = HTTPHeaders([("Host", "api.example"), ("X-Kept", "1")])
        for i in 0..<20_000 { headers.add(name: "a_\(i)", value: "b") }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/api/items", headers: headers)
        var framing = RequestHead.Framing()
        let clock = ContinuousClock()
        let started = clock.now
        #expect(RequestHead.check(&head, framing: &framing, limits: limits) == nil)
        let took = clock.now - started
        #expect(head.headers.map(\.name) == ["Host", "X-Kept"])
        // About 0.1 s in the debug build; one name at a time, minutes.
        #expect(took < .seconds(5), "checking 20 000 underscored fields took \(took)")
    }
}
