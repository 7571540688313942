import Testing
@testable import SidecacheUpstream

@Suite struct RequestHeaderLinesTests {
    @Test func callerHeadersGoFirstInOrderThenCurlsOwnAreBlanked() {
        let lines = RequestHeaderLines.lines(
            for: [(name: "Host", value: "example.com"), (name: "X-B", value: "2"), (name: "X-A", value: "1")],
            hasBody: false)
        #expect(lines == ["Host: example.com", "X-B: 2", "X-A: 1", "Expect:", "Accept:"])
    }

    @Test func callersAcceptAndContentTypeAreKept() {
        let lines = RequestHeaderLines.lines(
            for: [(name: "accept", value: "application/json"), (name: "Content-Type", value: "text/plain")],
            hasBody: true)
        #expect(lines == ["accept: application/json", "Content-Type: text/plain", "Expect:"])
    }

    @Test func bodyWithoutContentTypeBlanksCurlsFormType() {
        let lines = RequestHeaderLines.lines(for: [], hasBody: true)
        #expect(lines == ["Expect:", "Accept:", "Content-Type:"])
    }

    @Test func emptyValueIsSentNotRemoved() {
        #expect(RequestHeaderLines.lines(for: [(name: "X-Empty", value: "")], hasBody: false).first == "X-Empty;")
    }

    @Test func callersExpectIsNeverSent() {
        let lines = RequestHeaderLines.lines(for: [(name: "Expect", value: "100-continue")], hasBody: true)
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
        let lines = RequestHeaderLines.lines(for: [(name: name, value: value), (name: "X-Ok", value: "1")], hasBody: false)
        #expect(lines == ["X-Ok: 1", "Expect:", "Accept:"])
    }
}
