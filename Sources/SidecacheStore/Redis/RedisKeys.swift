import SidecacheCore

/// The Redis key schema, all under the configured prefix. Keys never hold anything in
/// clear: entries are named by the key digest, counters by the scope id.
///
/// Purge state (epoch, scope counters, sequence) is kept once per *stripe*, and an entry
/// lives in the stripe its key digest picks. One server has one stripe, with untagged
/// names. A cluster has `clusterStripes`, each a hash tag (`{n}`) chosen so the stripes'
/// slots are spread evenly over the 16384 (and so over the masters): every key one atomic
/// operation touches — an entry, its epoch and counters, a sequence — shares its
/// stripe's slot, while the cache as a whole, any route, and the strict probes of all
/// hits are spread over every node. The tags are part of the stored format: changing
/// them needs a new prefix (old and new instances would otherwise miss each other's purges).
struct RedisKeys: Sendable {
    let prefix: String
    /// Per stripe: its hash tag (empty with one stripe) and that tag's slot.
    private let tags: [String]
    let slots: [Int]
    /// Per stripe, the names and name prefixes built at start: every Redis lookup names
    /// an entry, the epoch and a counter per scope.
    private let entryPrefixes: [String], generationPrefixes: [String], softMarkPrefixes: [String], tagPurgedPrefixes: [String]
    private let epochs: [String], epochServers: [String], sequences: [String], tagSequences: [String], recentTagPurgeSets: [String]
    /// Per stripe, the strict probe (`MGET epoch seq`), built once: every strict L1 hit
    /// sends or joins one.
    private let probes: [[RedisArgument]]

    /// Enough stripes to reach every master of any cluster one would run a cache on,
    /// few enough that a purge (one small script per stripe) stays cheap.
    static let clusterStripes = 64

    init(prefix: String, stripes: Int = 1) {
        self.prefix = prefix
        let tags = stripes == 1 ? [""] : Self.evenlySpreadTags(stripes)
        self.tags = tags
        self.slots = tags.map { RedisSlot.of($0) }
        entryPrefixes = tags.map { prefix + $0 + "e:" }
        generationPrefixes = tags.map { prefix + $0 + "g:" }
        softMarkPrefixes = tags.map { prefix + $0 + "s:" }
        tagPurgedPrefixes = tags.map { prefix + $0 + "t:" }
        epochs = tags.map { prefix + $0 + "epoch" }
        epochServers = tags.map { prefix + $0 + "epoch-server" }
        sequences = tags.map { prefix + $0 + "seq" }
        tagSequences = tags.map { prefix + $0 + "tseq" }
        recentTagPurgeSets = tags.map { prefix + $0 + "tpurged" }
        probes = tags.indices.map { [epochs, sequences] in ["MGET", .text(epochs[$0]), .text(sequences[$0])] }
    }

    var stripes: Int { tags.count }

    func stripe(of key: CacheKey) -> Int { tags.count == 1 ? 0 : Int(key.a % UInt64(tags.count)) }

    func entry(_ key: CacheKey) -> String { key.hex(after: entryPrefixes[stripe(of: key)]) }
    /// SCAN pattern of every entry (`{` is not special in Redis patterns).
    var entryPattern: String { prefix + (tags.count == 1 ? "" : "{*}") + "e:*" }
    func epoch(_ stripe: Int) -> String { epochs[stripe] }
    /// The server process the epoch was last set or confirmed on: its cluster node id and `run_id`.
    func epochServer(_ stripe: Int) -> String { epochServers[stripe] }
    func generation(_ scope: UInt64, _ stripe: Int) -> String { scope.paddedHex(after: generationPrefixes[stripe]) }
    /// The same name as a command argument, spelled into the command itself.
    func generationArgument(_ scope: UInt64, _ stripe: Int) -> RedisArgument { .hexName(prefix: generationPrefixes[stripe], id: scope) }
    /// Next to a counter: the soft purges among its last steps (`SoftPurgeMark`).
    func softMark(_ scope: UInt64, _ stripe: Int) -> String { scope.paddedHex(after: softMarkPrefixes[stripe]) }
    /// The stripe's count of tag purges at a tag's last purge (`RedisStore.markPurged`).
    func tagPurged(_ scope: UInt64, _ stripe: Int) -> String { scope.paddedHex(after: tagPurgedPrefixes[stripe]) }
    /// Counted up by every purge that names a tag.
    func tagSequence(_ stripe: Int) -> String { tagSequences[stripe] }
    /// The stripe's recent tag purges, one sorted set without a TTL (`RedisStore.markPurged`):
    /// each tag's mark name scored with the count it was last purged at.
    func recentTagPurges(_ stripe: Int) -> String { recentTagPurgeSets[stripe] }
    /// Bumped by every purge after its counters: a cheap "has anything been purged?" probe.
    func sequence(_ stripe: Int) -> String { sequences[stripe] }
    /// The stripe's epoch and sequence in one read: a strict L1 hit's confirmation.
    func probe(_ stripe: Int) -> [RedisArgument] { probes[stripe] }
    var channel: String { prefix + "purge" }
    /// Cross-instance coalescing: the lease of the one instance fetching `key` now,
    /// in the entry's slot.
    func lease(_ key: CacheKey) -> String { prefix + tags[stripe(of: key)] + "l:" + key.description }
    /// Where a lease holder announces (the key digest) that its fill is over.
    var fillChannel: String { prefix + "fills" }

    /// Stripe k's tag is the first decimal number whose slot falls in the k-th of
    /// `count` equal slot ranges.
    static func evenlySpreadTags(_ count: Int) -> [String] {
        (0..<count).map { k in
            let range = (k * RedisSlot.count / count)..<((k + 1) * RedisSlot.count / count)
            var n = 0
            while !range.contains(RedisSlot.of(String(n))) { n += 1 }
            return "{\(n)}"
        }
    }
}
