import Glibc
import NIOCore
import SidecacheCore
import Synchronization

/// One stored answer, pre-encoded: a hit writes `head`, a few per-request header
/// lines, the blank line and `body`, with no per-hit encoding work.
public final class CacheEntry: Sendable {
    /// Status line and stored header lines, each ending in CRLF, without the final blank line.
    public let head: ByteBuffer
    public let body: ByteBuffer
    public let status: Int
    public let timing: EntryTiming
    /// The purge sequence number when the fill started; purges after it invalidate the entry.
    public let fillSeq: UInt64
    /// The purge scopes (route, path, subtrees) the entry belongs to, as `PurgeScope` ids.
    public let scopeIDs: [UInt64]
    /// The newest purge sequence number at which the entry was known valid: a hit whose
    /// ledger has not moved since skips the scope checks (one atomic load).
    let checkedSeq: Atomic<UInt64>
    /// With Redis in strict mode: when (wall-clock ms) the entry was last vouched for by
    /// Redis — stored there, read from there, or confirmed — taken when the request that
    /// did it was sent. While Redis cannot be asked, it is served until `outageGrace`
    /// after this.
    let confirmedAt = Atomic<Int64>(Int64.min)
    /// With Redis: the shared purge counters the entry was filled under, which strict
    /// mode compares on every L1 hit. Nil for an entry filled while Redis was away.
    public let generations: EntryCodec.Generations?
    /// With Redis: the shared purge sequence at which `generations` were last found
    /// current; `unconfirmed` until the first full check.
    let confirmedSeq = Atomic<UInt64>(CacheEntry.unconfirmed)
    static let unconfirmed = UInt64.max
    /// The stored body is gzip (`Content-Encoding: gzip` in the head): clients that do
    /// not accept gzip get it decompressed (`decoded`).
    public let isGzip: Bool
    private let decodedForm = Mutex<Decoded?>(nil)

    /// A gzip entry's answer for clients without gzip, made on the first such hit and
    /// kept with the entry (the L1 is charged for it), so later ones cost no zlib work.
    public struct Decoded: Sendable {
        /// Status line and header lines as for `head`: no `Content-Encoding`, the decoded length.
        public let head: ByteBuffer
        public let body: ByteBuffer

        public init(head: ByteBuffer, body: ByteBuffer) {
            self.head = head
            self.body = body
        }

        /// The two buffers by capacity, and their storages.
        public var cost: Int { head.capacity + body.capacity + 160 }
    }

    /// The kept decoded form, if one was made.
    public var decoded: Decoded? { decodedForm.withLock { $0 } }

    /// Keeps `form` unless one is kept already; true when this one was kept.
    public func keepDecoded(_ form: Decoded) -> Bool {
        decodedForm.withLock { kept in
            guard kept == nil else { return false }
            kept = form
            return true
        }
    }

    public init(head: ByteBuffer, body: ByteBuffer, status: Int, timing: EntryTiming, fillSeq: UInt64, scopeIDs: [UInt64],
                generations: EntryCodec.Generations? = nil) {
        self.generations = generations
        self.head = head
        self.body = body
        self.status = status
        self.timing = timing
        self.fillSeq = fillSeq
        self.scopeIDs = scopeIDs
        self.checkedSeq = Atomic(fillSeq)
        self.isGzip = Self.namesGzip(head)
    }

    /// Whether a stored head says its body is gzip and nothing else: its
    /// `Content-Encoding` lines together name one coding, `gzip` or `x-gzip` (any case;
    /// `identity` names none, as `ContentCoding.coding` reads it). `gzip, br` or a second
    /// line is not: decoding one layer would serve clients bytes still encoded, labelled
    /// plain. Every entry made asks, a Redis hit's included, so it jumps from line to
    /// line with `memchr` and allocates nothing.
    static func namesGzip(_ head: ByteBuffer) -> Bool {
        head.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return false }
            let name: StaticString = "content-encoding:"
            let nameBytes = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            var codings = 0
            var gzip = false
            var offset = 0
            while offset < raw.count, let newline = memchr(base + offset, 0x0A, raw.count - offset) {
                let line = base.distance(to: UnsafeRawPointer(newline)) + 1
                offset = line
                guard line >= 2, raw[line - 2] == 0x0D, raw.count - line >= nameBytes.count,
                      raw[line] | 0x20 == nameBytes[0] else { continue }
                guard (1..<nameBytes.count).allSatisfy({ raw[line + $0] | (nameBytes[$0] >= 0x61 ? 0x20 : 0) == nameBytes[$0] })
                else { continue }
                let valueEnd = memchr(base + line, 0x0D, raw.count - line).map { base.distance(to: UnsafeRawPointer($0)) } ?? raw.count
                var member = line + nameBytes.count
                while member <= valueEnd {
                    let comma = memchr(base + member, 0x2C, valueEnd - member).map { base.distance(to: UnsafeRawPointer($0)) } ?? valueEnd
                    var (from, to) = (member, comma)
                    while from < to, raw[from] == 0x20 || raw[from] == 0x09 { from += 1 }
                    while to > from, raw[to - 1] == 0x20 || raw[to - 1] == 0x09 { to -= 1 }
                    if from < to && !Self.names(raw, from, to, "identity") {
                        codings += 1
                        gzip = Self.names(raw, from, to, "gzip") || Self.names(raw, from, to, "x-gzip")
                    }
                    member = comma + 1
                }
            }
            return codings == 1 && gzip
        }
    }

    /// Whether `raw[from..<to]` is `coding` (given lowercase) in any case.
    private static func names(_ raw: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ coding: StaticString) -> Bool {
        guard to - from == coding.utf8CodeUnitCount else { return false }
        for i in 0..<(to - from) where raw[from + i] | 0x20 != coding.utf8Start[i] { return false }
        return true
    }

    func confirmed(at time: Timestamp) {
        confirmedAt.store(time.milliseconds, ordering: .relaxed)
    }

    /// Whether Redis vouched for the entry less than `grace` before `now`.
    func vouchedFor(within grace: Duration, of now: Timestamp) -> Bool {
        let at = confirmedAt.load(ordering: .relaxed)
        return at != Int64.min && now.milliseconds &- at <= grace.milliseconds
    }

    /// What the entry costs the byte budget: the memory it holds, not only the bytes of
    /// its answer. `store.memory` bounds the process (DESIGN "Bounded memory"), so the
    /// buffers count by capacity, and each entry pays a fixed share for the objects
    /// around them: this object, two buffer storages, its scope-id array, the L1's node
    /// and dictionary slot, and malloc's headers (measured against RSS, BENCHMARKS.md).
    public var cost: Int {
        head.capacity + body.capacity + scopeIDs.capacity * 8 + (generations?.values.count ?? 0) * 16 + Self.overhead
    }

    static let overhead = 640
}
