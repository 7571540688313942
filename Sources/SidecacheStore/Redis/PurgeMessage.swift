import SidecacheCore

/// What fast mode publishes on the purge channel for other instances' L1: the scope
/// ids in hex, comma-separated, and for a soft purge a `stale@<milliseconds>:` prefix
/// (the purge's time, from which the entries are expired).
struct PurgeMessage: Equatable {
    var ids: [UInt64]
    /// Set for a soft purge (`"mode": "stale"`).
    var softAt: Timestamp?

    private static let softPrefix = "stale@"

    var payload: String {
        let list = ids.map(\.paddedHex).joined(separator: ",")
        guard let softAt else { return list }
        return Self.softPrefix + String(softAt.milliseconds) + ":" + list
    }

    init(ids: [UInt64], softAt: Timestamp?) {
        self.ids = ids
        self.softAt = softAt
    }

    /// A payload that names no readable scope gives no ids (and so purges nothing); a
    /// soft prefix that does not parse makes the purge hard, the safe reading.
    init(payload: String) {
        var list = Substring(payload)
        softAt = nil
        if list.hasPrefix(Self.softPrefix), let colon = list.firstIndex(of: ":") {
            softAt = Int64(list[list.index(list.startIndex, offsetBy: Self.softPrefix.count)..<colon]).map(Timestamp.init(milliseconds:))
            list = list[list.index(after: colon)...]
        }
        ids = list.split(separator: ",").compactMap { UInt64($0, radix: 16) }
    }
}
