/// Figures that belong to no route: purges by source, store errors by store, entries
/// refused for their signature.
final class GlobalStats: Sendable {
    static let stores = ["memory", "redis"]
    static let signatureFailuresAt = PurgeSource.allCases.count + stores.count
    let cells = AtomicCells(count: signatureFailuresAt + 1)

    static func index(_ source: PurgeSource) -> Int {
        switch source {
        case .mutation: 0
        case .admin: 1
        case .remote: 2
        }
    }

    /// `store` is a closed set; anything but "memory" counts as "redis".
    static func index(store: String) -> Int { PurgeSource.allCases.count + (store == "memory" ? 0 : 1) }

    func purged(_ source: PurgeSource, count: Int) { cells.add(Self.index(source), count) }
    func storeError(_ store: String) { cells.add(Self.index(store: store)) }
    func signatureFailure() { cells.add(Self.signatureFailuresAt) }

    func purges(_ source: PurgeSource) -> Int { cells.load(Self.index(source)) }
    func storeErrors(_ store: String) -> Int { cells.load(Self.index(store: store)) }
    var signatureFailures: Int { cells.load(Self.signatureFailuresAt) }
}
