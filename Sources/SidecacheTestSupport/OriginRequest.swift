/// One request as the scripted origin received it, recorded before its responder runs.
public struct OriginRequest: Sendable {
    public var method: String
    /// The request target exactly as received (path + "?" + query).
    public var uri: String
    /// `uri` up to (not including) the first "?".
    public var path: String
    /// Headers in arrival order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, uri: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.uri = uri
        self.path = uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
        self.headers = headers
        self.body = body
    }

    /// The query string after the first "?", or nil when there is none.
    public var query: String? {
        uri.firstIndex(of: "?").map { String(uri[uri.index(after: $0)...]) }
    }

    /// First value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first(name)
    }

    /// Every value of the header `name`, compared case-insensitively.
    public func headers(_ name: String) -> [String] {
        headers.values(name)
    }

    /// The body decoded as UTF-8.
    public var text: String {
        String(decoding: body, as: UTF8.self)
    }
}
