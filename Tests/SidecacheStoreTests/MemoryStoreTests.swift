import NIOCore
import Synchronization
import Testing
import SidecacheCore
@testable import SidecacheStore

@Suite struct MemoryStoreTests {
    static let timing = EntryTiming(birth: Timestamp(milliseconds: 0), freshUntil: Timestamp(milliseconds: 60_000),
                                    staleWhileRevalidateUntil: Timestamp(milliseconds: 60_000), staleIfErrorUntil: Timestamp(milliseconds: 60_000))

    func entry(size: Int, fillSeq: UInt64 = 1, scopes: [UInt64] = [1]) -> CacheEntry {
        CacheEntry(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: ByteBuffer(repeating: 7, count: size),
                   status: 200, timing: Self.timing, fillSeq: fillSeq, scopeIDs: scopes)
    }

    func key(_ n: UInt64) -> CacheKey { CacheKey(a: n, b: n, c: 0, d: 0) }

    /// One shard, and the shards the proxy runs with: the budget is the store's, not each shard's.
    @Test(arguments: [1, nil] as [Int?])
    func neverHoldsMoreThanItsBudget(shards: Int?) {
        let store = shards.map { MemoryStore(capacityBytes: 64 * 1024, shardCount: $0) } ?? MemoryStore(capacityBytes: 64 * 1024)
        for i in 0..<1000 { store.set(key(UInt64(i)), entry(size: 1000)) }
        #expect(store.usedBytes <= 64 * 1024)
        #expect(store.entryCount > 0 && store.entryCount < 1000)
        #expect(store.get(key(999), now: Timestamp(milliseconds: 1)) != nil)   // newest kept
        #expect(store.get(key(0), now: Timestamp(milliseconds: 1)) == nil)     // oldest evicted
    }

    /// A purge of everything empties every shard and lets its entries go (their chain
    /// broken without recursion: 200 000 of them in one shard), and the store fills again.
    @Test func removeAllLetsEveryEntryGo() {
        let store = MemoryStore(capacityBytes: 1 << 30, shardCount: 2)
        weak var first: CacheEntry?
        do {
            let kept = entry(size: 10)
            first = kept
            store.set(key(0), kept)
        }
        for i in 1..<200_000 { store.set(key(UInt64(i) << 1), entry(size: 10)) }
        store.removeAll()
        #expect(store.entryCount == 0 && store.usedBytes == 0)
        #expect(first == nil, "the entries are freed, not only unlisted")
        store.set(key(1), entry(size: 10))
        #expect(store.get(key(1), now: Timestamp(milliseconds: 1)) != nil && store.entryCount == 1)
    }

    @Test func leastRecentlyUsedGoesFirst() {
        let one = entry(size: 1000).cost
        let store = MemoryStore(capacityBytes: 3 * one + one / 2, shardCount: 1)   // room for three
        for i in 0..<3 { store.set(key(UInt64(i)), entry(size: 1000)) }
        _ = store.get(key(0), now: Timestamp(milliseconds: 1))                  // 0 is now the newest
        store.set(key(3), entry(size: 1000))
        #expect(store.get(key(1), now: Timestamp(milliseconds: 1)) == nil)
        #expect(store.get(key(0), now: Timestamp(milliseconds: 1)) != nil)
    }

    /// `store.memory` bounds the process, so an entry costs at least the heap blocks it
    /// keeps alive: its object and its buffers by capacity, not by the bytes written.
    @Test func anEntryCostsAtLeastTheMemoryItHolds() {
        var body = ByteBufferAllocator().buffer(capacity: 4096)
        body.writeRepeatingByte(7, count: 100)
        let head = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n")
        let entry = CacheEntry(head: head, body: body, status: 200, timing: Self.timing, fillSeq: 1, scopeIDs: [1, 2, 3])
        func blockSize(_ buffer: ByteBuffer) -> Int { buffer.withUnsafeReadableBytes { mallocUsableSize(UnsafeMutableRawPointer(mutating: $0.baseAddress)) } }
        let held = mallocUsableSize(Unmanaged.passUnretained(entry).toOpaque()) + blockSize(head) + blockSize(body)
        #expect(entry.cost >= held, "cost \(entry.cost), blocks \(held)")
    }

    @Test func expiredEntriesAreDropped() {
        let store = MemoryStore(capacityBytes: 1 << 20)
        store.set(key(1), entry(size: 10))
        #expect(store.get(key(1), now: Timestamp(milliseconds: 59_999)) != nil)
        #expect(store.get(key(1), now: Timestamp(milliseconds: 60_000)) == nil)
        #expect(store.entryCount == 0)
    }

    @Test func anEntryBiggerThanTheBudgetIsRefused() {
        let store = MemoryStore(capacityBytes: 1000, shardCount: 1)
        #expect(!store.set(key(1), entry(size: 5000)))
        #expect(store.usedBytes == 0)
    }

    /// A soft purge makes covered entries stale since its time (not checked as valid, so
    /// every lookup sees it until the entry is replaced), refuses fills that started
    /// before it, and a hard purge after it still removes.
    @Test func ledgerSoftPurgesMakeEntriesStaleUntilReplaced() {
        let ledger = PurgeLedger()
        let e = entry(size: 10, fillSeq: ledger.current, scopes: [PurgeScope.path("/a").id])
        let other = entry(size: 10, fillSeq: ledger.current, scopes: [PurgeScope.path("/b").id])
        let startedBefore = ledger.current
        ledger.softPurge([.path("/a")], at: Timestamp(milliseconds: 5_000))
        #expect(ledger.check(e) == .stale(since: Timestamp(milliseconds: 5_000)))
        #expect(ledger.check(e) == .stale(since: Timestamp(milliseconds: 5_000)), "still stale on the next look")
        #expect(ledger.isValid(e))
        #expect(ledger.check(other) == .valid)
        #expect(!ledger.mayStore(fillSeq: startedBefore, scopeIDs: [PurgeScope.path("/a").id]))
        let refreshed = entry(size: 10, fillSeq: ledger.current, scopes: [PurgeScope.path("/a").id])
        #expect(ledger.check(refreshed) == .valid)
        ledger.softPurge([.all], at: Timestamp(milliseconds: 6_000))
        #expect(ledger.check(refreshed) == .stale(since: Timestamp(milliseconds: 6_000)))
        ledger.purge([.path("/a")])
        #expect(ledger.check(e) == .purged)
    }

    @Test func ledgerPurgesByScopeAndRefusesOvertakenFills() {
        let ledger = PurgeLedger()
        let fillSeq = ledger.current
        let e = entry(size: 1, fillSeq: fillSeq, scopes: [PurgeScope.path("/a").id, PurgeScope.route("r").id])
        #expect(ledger.isValid(e))
        ledger.purge([.path("/b")])
        #expect(ledger.isValid(e))                                               // another path
        ledger.purge([.route("r")])
        #expect(!ledger.isValid(e))
        #expect(!ledger.mayStore(fillSeq: fillSeq, scopeIDs: e.scopeIDs))        // overtaken fill
        let later = entry(size: 1, fillSeq: ledger.current, scopes: e.scopeIDs)
        #expect(ledger.isValid(later))
        ledger.purge(ids: [PurgeScope.all.id])                                   // as published by another instance
        #expect(!ledger.isValid(later))
    }

    /// ... and says so, once each time: the whole cache emptied at once, which clients
    /// naming ever new scopes can cause, left no trace before.
    @Test func ledgerOverflowPurgesEverythingOlder() {
        let overflows = Mutex(0)
        let ledger = PurgeLedger(maxScopes: 4, onOverflow: { scopes in overflows.withLock { $0 += scopes } })
        let e = entry(size: 1, fillSeq: ledger.current, scopes: [99])
        ledger.purge((0..<10).map { .path("/p\($0)") })
        #expect(!ledger.isValid(e))
        #expect(overflows.withLock { $0 } == 4)
        ledger.softPurge((10..<20).map { .path("/p\($0)") }, at: Timestamp(milliseconds: 0))
        #expect(overflows.withLock { $0 } == 8)
    }
}

/// A gzip entry's decoded form is charged to the budget it lives in, once.
@Suite struct DecodedFormChargeTests {
    static let timing = MemoryStoreTests.timing

    @Test func theDecodedFormIsChargedAndEvictsPastTheBudget() {
        let store = MemoryStore(capacityBytes: 16 * 4096, shardCount: 1)
        let key = CacheKey(a: 1, b: 1, c: 1, d: 1)
        let entry = CacheEntry(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"), body: ByteBuffer(repeating: 1, count: 100),
                               status: 200, timing: Self.timing, fillSeq: 1, scopeIDs: [1])
        #expect(entry.isGzip)
        store.set(key, entry)
        let before = store.usedBytes
        let form = CacheEntry.Decoded(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: ByteBuffer(repeating: 2, count: 3000))
        #expect(entry.keepDecoded(form))
        #expect(!entry.keepDecoded(form), "kept once")
        store.charge(key, entry, bytes: form.cost)
        #expect(store.usedBytes == before + form.cost)
        store.remove(key)
        #expect(store.usedBytes == 0, "the charge leaves with the entry")

        store.set(key, entry)
        let other = CacheEntry(head: ByteBuffer(string: "HTTP/1.1 200 OK\r\n"), body: ByteBuffer(repeating: 3, count: 10),
                               status: 200, timing: Self.timing, fillSeq: 1, scopeIDs: [1])
        store.set(key, other)
        let replaced = store.usedBytes
        store.charge(key, entry, bytes: 5000)
        #expect(store.usedBytes == replaced, "an entry no longer held is not charged")

        store.set(key, entry)
        store.charge(key, entry, bytes: 16 * 4096)
        #expect(store.get(key, now: Timestamp(milliseconds: 0)) == nil && store.usedBytes == 0, "too big with its decoded form: dropped")
    }
}

/// Which stored heads say their body is gzip and nothing else (any case, any whitespace).
@Suite struct StoredGzipTests {
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n", true),
        ("HTTP/1.1 200 OK\r\ncontent-encoding:gzip\r\n", true),
        ("HTTP/1.1 200 OK\r\nCONTENT-ENCODING:   GZIP\r\n", true),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n", false),
        ("HTTP/1.1 200 OK\r\nX-Content-Encoding: gzip\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", false),
        ("HTTP/1.1 200 OK\r\nA: b\nContent-Encoding: gzip\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gz", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding", false),
        ("HTTP/1.1 200 OK\r\nVary: Accept\r\nContent-Encoding:\tgzip", true),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: X-Gzip \r\n", true),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, \r\n", true),
        // One layer decoded of two codings is bytes still encoded, labelled plain.
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip,gzip\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: br\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzipped\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, Identity\r\n", true),
    ])
    func namesGzip(head: String, gzip: Bool) {
        #expect(CacheEntry.namesGzip(ByteBuffer(string: head)) == gzip)
    }
}

/// glibc's `malloc_usable_size` (declared in <malloc.h>, which the Glibc module leaves out):
/// the size of the heap block at `pointer`.
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int
