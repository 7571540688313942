/// A fixed set of header names, matched ignoring ASCII case. The names are bucketed by
/// length, so a lookup compares a name with only the one or two members of its length:
/// every line of every forwarded request and answer is checked against several sets.
public struct HeaderNameSet: Sendable, ExpressibleByArrayLiteral {
    /// The members, lowercase, in the order given.
    public let names: [String]
    @usableFromInline let byLength: [[String]]

    public init(_ names: [String]) {
        self.names = names.map { $0.lowercased() }
        var byLength = [[String]](repeating: [], count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for name in self.names { byLength[name.utf8.count].append(name) }
        self.byLength = byLength
    }

    public init(arrayLiteral names: String...) { self.init(names) }

    @inlinable
    public func contains(_ name: String) -> Bool {
        let length = name.utf8.count
        guard length < byLength.count else { return false }
        for member in byLength[length] where name.equalsIgnoringASCIICase(member) { return true }
        return false
    }
}
