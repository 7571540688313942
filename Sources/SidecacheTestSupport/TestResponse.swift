/// A complete HTTP response as a test client received it.
public struct TestResponse: Sendable {
    public var status: Int
    /// Headers in arrival order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Interim (1xx) responses that arrived before this one, oldest first.
    public var interim: [TestResponse]

    public init(
        status: Int,
        headers: [(name: String, value: String)],
        body: [UInt8] = [],
        interim: [TestResponse] = []
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.interim = interim
    }

    /// The body decoded as UTF-8.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// First value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? { headers.first(name) }

    /// Every value of the header `name`, compared case-insensitively, in order.
    public func headers(_ name: String) -> [String] { headers.values(name) }
}
