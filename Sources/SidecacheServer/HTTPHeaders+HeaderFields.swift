import NIOHTTP1
import SidecacheCore

/// NIO's request headers, read by the core directly: no conversion on the hit path.
extension HTTPHeaders: HeaderFields {
    public func first(_ name: String) -> String? { first(name: name) }
    public func all(_ name: String) -> [String] { self[name] }
    public func present(_ set: HeaderNameSet) -> UInt64 { reduce(0) { $0 | set.bit($1.name) } }
}
