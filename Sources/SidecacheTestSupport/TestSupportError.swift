/// Why a test-support helper gave up. Carries a message meant for a failing test's log.
public struct TestSupportError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Nothing (or not enough) arrived before the deadline.
        case timeout
        /// The peer closed the connection before a complete response arrived.
        case connectionClosed
        /// A second request was started on a `TestHTTPClient` while one was in flight.
        case requestInFlight
        /// Bytes that do not parse as HTTP/1.1 responses.
        case malformedResponse
        /// A child process could not be started.
        case launchFailed
        /// A server answered a command with something else than the helper expects.
        case unexpectedReply
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(self.kind): \(self.message)" }
}
