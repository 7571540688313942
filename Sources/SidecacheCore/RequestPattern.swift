/// `METHOD|METHOD /path/pattern`: what route rules and purge rules match on.
public struct RequestPattern: Sendable, Equatable, CustomStringConvertible {
    public let methods: [String]
    public let path: PathPattern

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case shape
        case method(String)
        case path(PathPattern.ParseError)

        public var description: String {
            switch self {
            case .shape: "use \"METHOD /path\", e.g. \"GET /api/users/{id}\" or \"PUT|PATCH /api/users/{id}\""
            case .method(let m): "\"\(m)\" is not an HTTP method"
            case .path(let e): e.description
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { throw .shape }
        var methods: [String] = []
        for m in parts[0].split(separator: "|", omittingEmptySubsequences: false) {
            guard !m.isEmpty, m.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
                throw .method(String(m))
            }
            if !methods.contains(String(m)) { methods.append(String(m)) }
        }
        do { path = try PathPattern(parsing: String(parts[1])) } catch { throw .path(error) }
        self.methods = methods
    }

    public func matches(method: String, path: Substring) -> Bool {
        methods.contains(method) && self.path.matches(path)
    }

    public var description: String { methods.joined(separator: "|") + " " + path.source }
}
