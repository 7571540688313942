/// Where a purge came from: a closed set, used as a metric label.
public enum PurgeSource: String, Sendable, CaseIterable {
    /// A purge rule or RFC 9111 §4.4 invalidation after a successful mutation.
    case mutation
    /// The admin API.
    case admin
    /// Published by another instance (`consistency: fast`).
    case remote
}
