/// A fixed set of header names, matched ignoring ASCII case. The names are bucketed by
/// length, so a lookup compares a name with only the one or two members of its length:
/// every line of every forwarded request and answer is checked against several sets.
public struct HeaderNameSet: Sendable, ExpressibleByArrayLiteral {
    /// The members, lowercase, in the order given.
    public let names: [String]
    /// Positions in `names`, by the name's length.
    @usableFromInline let byLength: [[Int]]

    public init(_ names: [String]) {
        self.names = names.map { $0.lowercased() }
        var byLength = [[Int]](repeating: [], count: (names.map(\.utf8.count).max() ?? 0) + 1)
        for (i, name) in self.names.enumerated() { byLength[name.utf8.count].append(i) }
        self.byLength = byLength
    }

    public init(arrayLiteral names: String...) { self.init(names) }

    @inlinable
    public func contains(_ name: String) -> Bool { position(of: name) != nil }

    /// Where `name` is in `names`, or nil.
    @inlinable
    public func position(of name: String) -> Int? {
        let length = name.utf8.count
        guard length < byLength.count else { return nil }
        for i in byLength[length] where name.equalsIgnoringASCIICase(names[i]) { return i }
        return nil
    }

    /// `HeaderFields.present`'s bit for the field `name`, or 0.
    @inlinable
    public func bit(_ name: String) -> UInt64 {
        guard let i = position(of: name), i < 64 else { return 0 }
        return 1 << UInt64(i)
    }
}
