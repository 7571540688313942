import SidecacheCore
import Synchronization

/// The in-process tier: a byte-bounded LRU, split into shards so event loop threads
/// rarely meet on one lock. It never holds more than its budget.
public final class MemoryStore: Sendable {
    private final class Shard: Sendable {
        let lru: Mutex<LRUShard>
        init(capacity: Int) { lru = Mutex(LRUShard(capacity: capacity)) }
    }

    private let shards: [Shard]
    public let capacityBytes: Int

    public init(capacityBytes: Int, shardCount: Int = 16) {
        self.capacityBytes = capacityBytes
        let perShard = capacityBytes / shardCount
        shards = (0..<shardCount).map { _ in Shard(capacity: perShard) }
    }

    @inline(__always)
    private func shard(_ key: CacheKey) -> Shard { shards[Int(key.b % UInt64(shards.count))] }

    /// The entry for `key` if it may still be served or revalidated at `now`; entries
    /// past that are dropped on the way.
    public func get(_ key: CacheKey, now: Timestamp) -> CacheEntry? {
        shard(key).lru.withLock { $0.get(key, now: now) }
    }

    /// Stores `entry`, evicting the least recently used entries past the budget.
    /// An entry bigger than a shard's budget is not stored.
    @discardableResult
    public func set(_ key: CacheKey, _ entry: CacheEntry) -> Bool {
        shard(key).lru.withLock { $0.set(key, entry) }
    }

    public func remove(_ key: CacheKey) {
        shard(key).lru.withLock { $0.remove(key) }
    }

    /// Charges `bytes` more to `entry` (held under `key`), evicting past the budget: an
    /// entry's decoded form is memory the budget covers too. Nothing when the key holds
    /// another entry by now.
    public func charge(_ key: CacheKey, _ entry: CacheEntry, bytes: Int) {
        shard(key).lru.withLock { $0.charge(key, entry, bytes: bytes) }
    }

    /// Each shard is emptied under its lock in O(1); its entries are let go after the
    /// lock is released, so a purge of everything does not hold up the lookups of every
    /// event loop while a million entries are freed.
    public func removeAll() {
        for s in shards {
            let held = s.lru.withLock { $0.detachAll() }
            LRUShard.release(held)
        }
    }

    /// Every entry held now, for admin reports (what a purge covers). O(n), admin only:
    /// each shard is copied under its lock and the lock released before the caller looks.
    public func entries() -> [CacheEntry] {
        shards.flatMap { s in s.lru.withLock { $0.entries } }
    }

    public var entryCount: Int { shards.reduce(0) { n, s in n + s.lru.withLock { $0.count } } }
    public var usedBytes: Int { shards.reduce(0) { n, s in n + s.lru.withLock { $0.bytes } } }
}

/// One shard: a dictionary over an intrusive doubly linked recency list.
struct LRUShard: ~Copyable {
    final class Node {
        let key: CacheKey
        var entry: CacheEntry
        /// What the entry is charged now (its cost, plus its decoded form once made).
        var cost: Int
        var newer: Node?
        unowned(unsafe) var older: Node?

        init(key: CacheKey, entry: CacheEntry) {
            self.key = key
            self.entry = entry
            self.cost = entry.cost
        }
    }

    private var nodes: [CacheKey: Node] = [:]
    private var newest: Node?
    private var oldest: Node?
    private(set) var bytes = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { nodes.count }

    var entries: [CacheEntry] { nodes.values.map(\.entry) }

    mutating func get(_ key: CacheKey, now: Timestamp) -> CacheEntry? {
        guard let node = nodes[key] else { return nil }
        if node.entry.timing.keepUntil <= now {
            remove(key)
            return nil
        }
        if newest !== node {
            unlink(node)
            pushNewest(node)
        }
        return node.entry
    }

    mutating func set(_ key: CacheKey, _ entry: CacheEntry) -> Bool {
        let cost = entry.cost
        guard cost <= capacity else {
            remove(key)
            return false
        }
        if let node = nodes[key] {
            bytes += cost - node.cost
            node.entry = entry
            node.cost = cost
            if newest !== node {
                unlink(node)
                pushNewest(node)
            }
        } else {
            let node = Node(key: key, entry: entry)
            nodes[key] = node
            pushNewest(node)
            bytes += cost
        }
        while bytes > capacity, let victim = oldest { remove(victim.key) }
        return true
    }

    mutating func remove(_ key: CacheKey) {
        guard let node = nodes.removeValue(forKey: key) else { return }
        unlink(node)
        bytes -= node.cost
    }

    mutating func charge(_ key: CacheKey, _ entry: CacheEntry, bytes extra: Int) {
        guard let node = nodes[key], node.entry === entry else { return }
        guard node.cost + extra <= capacity else { return remove(key) }
        node.cost += extra
        bytes += extra
        while bytes > capacity, let victim = oldest { remove(victim.key) }
    }

    /// What an emptied shard held, for `release` to let go.
    struct Detached {
        let oldest: Node?
        let nodes: [CacheKey: Node]
    }

    /// Empties the shard at once, handing back what it held.
    mutating func detachAll() -> Detached {
        let held = Detached(oldest: oldest, nodes: nodes)
        nodes = [:]
        newest = nil
        oldest = nil
        bytes = 0
        return held
    }

    /// Lets go of a detached shard's entries: the strong `newer` chain is broken
    /// iteratively, so a long list cannot overflow the stack on release.
    static func release(_ held: consuming Detached) {
        var node = held.oldest
        while let n = node { node = n.newer; n.newer = nil }
    }

    private mutating func pushNewest(_ node: Node) {
        node.older = newest
        node.newer = nil
        newest?.newer = node
        newest = node
        if oldest == nil { oldest = node }
    }

    private mutating func unlink(_ node: Node) {
        if let older = node.older { older.newer = node.newer } else { oldest = node.newer }
        if let newer = node.newer { newer.older = node.older } else { newest = node.older }
        node.newer = nil
        node.older = nil
    }
}
