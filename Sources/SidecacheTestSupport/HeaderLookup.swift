/// Case-insensitive lookups over an ordered header list, shared by the request and
/// response types so they agree on matching rules.
extension Array where Element == (name: String, value: String) {
    /// Every value of `name` (compared case-insensitively), in order.
    func values(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return self.compactMap { $0.name.lowercased() == wanted ? $0.value : nil }
    }

    /// The first value of `name`, if any.
    func first(_ name: String) -> String? {
        let wanted = name.lowercased()
        return self.first { $0.name.lowercased() == wanted }?.value
    }

    func contains(_ name: String) -> Bool {
        self.first(name) != nil
    }
}
