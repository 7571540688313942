import Testing
@testable import SidecacheUpstream

/// What curl reads: the tests walk the list curl is given.
@Suite struct RequestHeaderLinesTests {
    @Test func callerHeadersGoFirstInOrderThenCurlsOwnAreBlanked() {
        let lines = RequestHeaderLines(
            [(name: "Host", value: "example.com"), (name: "X-B", value: "2"), (name: "X-A", value: "1")],
            hasBody: false).lines
        #expect(lines == ["Host: example.com", "X-B: 2", "X-A: 1", "Accept:"], "no Expect to blank without a body")
    }

    @Test func callersAcceptAndContentTypeAreKept() {
        let lines = RequestHeaderLines(
            [(name: "accept", value: "application/json"), (name: "Content-Type", value: "text/plain")],
            hasBody: true).lines
        #expect(lines == ["accept: application/json", "Content-Type: text/plain", "Expect:"])
    }

    @Test func bodyWithoutContentTypeBlanksCurlsFormType() {
        let lines = RequestHeaderLines([], hasBody: true).lines
        #expect(lines == ["Expect:", "Accept:", "Content-Type:"])
    }

    @Test func emptyValueIsSentNotRemoved() {
        #expect(RequestHeaderLines([(name: "X-Empty", value: "")], hasBody: false).lines.first == "X-Empty;")
    }

    @Test(arguments: [true, false])
    func callersExpectIsNeverSent(hasBody: Bool) {
        let lines = RequestHeaderLines([(name: "Expect", value: "100-continue")], hasBody: hasBody).lines
        #expect(!lines.contains { $0.lowercased().hasPrefix("expect: ") })
    }

    @Test(arguments: [
        (name: "X-Bad", value: "a\r\nInjected: yes"),
        (name: "X-Bad", value: "a\nb"),
        (name: "X-Bad", value: "a\u{0}b"),
        (name: "X-Bad\r\nInjected", value: "x"),
        (name: "X Bad", value: "x"),
        (name: "X:Bad", value: "x"),
        (name: "", value: "x"),
    ])
    func unsafeHeadersAreDropped(name: String, value: String) {
        let lines = RequestHeaderLines([(name: name, value: value), (name: "X-Ok", value: "1")], hasBody: false).lines
        #expect(lines == ["X-Ok: 1", "Accept:"])
    }

    /// Long values and many lines: every line whole, in order, each node leading to the next.
    @Test func manyLongLinesAreLaidOutWhole() {
        let headers = (0..<40).map { (name: "X-Header-\($0)", value: String(repeating: "v", count: $0 * 37)) }
        let lines = RequestHeaderLines(headers, hasBody: true).lines
        #expect(lines == headers.map { $0.value.isEmpty ? "\($0.name);" : "\($0.name): \($0.value)" } + ["Expect:", "Accept:", "Content-Type:"])
    }
}
