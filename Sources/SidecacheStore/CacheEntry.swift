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
    }

    func confirmed(at time: Timestamp) {
        confirmedAt.store(time.milliseconds, ordering: .relaxed)
    }

    /// Whether Redis vouched for the entry less than `grace` before `now`.
    func vouchedFor(within grace: Duration, of now: Timestamp) -> Bool {
        let at = confirmedAt.load(ordering: .relaxed)
        return at != Int64.min && now.milliseconds &- at <= grace.milliseconds
    }

    /// What the entry costs the byte budget: its bytes plus bookkeeping.
    public var cost: Int { head.readableBytes + body.readableBytes + scopeIDs.count * 8 + (generations?.values.count ?? 0) * 16 + 256 }
}
