import NIOHTTP1
import SidecacheCore

/// NIO's request headers, read by the core directly: no conversion on the hit path.
extension HTTPHeaders: HeaderFields {
    public func first(_ name: String) -> String? { first(name: name) }
    public func all(_ name: String) -> [String] { self[name] }
    public func present(_ set: HeaderNameSet) -> UInt64 { reduce(0) { $0 | set.bit($1.name) } }

    /// Whether a field is a precondition: `If-Match`, `If-None-Match`, `If-Modified-Since`
    /// or `If-Unmodified-Since`. Every hit asks, and few requests have one: a name is
    /// looked up only when it starts `If-`.
    var hasPreconditions: Bool {
        contains { name, _ in
            name.utf8.withContiguousStorageIfAvailable { $0.count >= 8 && $0[0] | 0x20 == UInt8(ascii: "i") && $0[2] == UInt8(ascii: "-") } != false
                && Validators.conditionalFields.contains(name)
        }
    }
}
