import NIOCore
import SidecacheCore
import SidecacheStore
import SidecacheUpstream

/// What the machine asks its exchange to do, and what those requests carry.
extension ExchangeStateMachine {
    enum Action {
        case none
        /// Look the key up; report with `lookupAnswered`.
        case lookup
        /// Answer from a stored entry (or 304 when the client's validators match), then finish.
        case answerFromCache(FromCache)
        /// Ask the flight registry to lead or wait; report with `flightEntered`.
        case enterFlight
        /// Wait at most `bound` for another request's fill; report with `fillLanded` or `waitTimedOut`.
        case waitForFill(bound: Duration)
        /// Take the key's lease across instances; report with `leaseAnswered`.
        case takeLease
        /// Wait at most `bound` for another instance's fill; report with `peerFilled`.
        case waitForPeer(bound: Duration)
        /// Fetch the key from the upstream (conditionally when `revalidating`).
        case fill(FillStart)
        /// Forward the request as it came.
        case forward
        /// Bytes taken (buffered, dropped): the transfer may go on.
        case consumed(Int)
        case sendHead(StreamStart)
        /// One body chunk, acknowledged to the transfer once it left.
        case sendBody(ByteBuffer, BodyFraming)
        /// The body is complete: end it in its framing and finish.
        case endBody(BodyFraming)
        /// Store this entry, then answer from it; report with `committed`.
        case commit(Filled)
        /// Run the mutation's purges; report with `purged`.
        case purge(UpstreamResponseHead)
        /// The upstream failed before any byte went out: land the flight with `land`,
        /// answer with `stale` (stale-if-error) if there is one, else with `error` marked `mark`.
        case answerInstead(ProxyError, mark: CacheMark, stale: CacheEntry?, cancelTransfer: Bool, land: FlightResult)
        /// The proxy's own error answer (marked when the cache had a part in it), then finish.
        case fail(ProxyError, mark: CacheMark?)
        /// The head is out and the upstream failed: cut the connection.
        case cut
        /// The client left: cancel the transfer, stop waiting as `waiter`, free the flight.
        case abandon(waiter: UInt64?)
    }

    struct FromCache {
        let entry: CacheEntry
        var staleDetail: StaticString?
        /// Refresh the entry in the background (stale-while-revalidate).
        var revalidate = false
        /// The flight this request leads ends so.
        var land: FlightResult?
        /// The entry is wrong: removed from the store once answered.
        var drop = false
        /// The upstream confirmed it with a 304 just now.
        var revalidated = false
    }

    struct FillStart {
        /// The shared purge counters the fill is stored under (nil: read them now).
        let generations: EntryCodec.Generations?
        /// The stored entry a conditional request revalidates.
        let revalidating: CacheEntry?
        /// This request waited as this waiter and stops now.
        var leaving: UInt64?
    }

    /// An answer to store: a completed fill, or a stored one the upstream confirmed.
    struct Filled {
        let status: Int
        let reason: String
        let lines: [(name: String, value: String)]
        let body: ByteBuffer
        let timing: EntryTiming
        /// Confirmed by a 304: answered like a hit (the client's validators apply).
        let revalidated: Bool
        /// Answered, not stored: why (a 304 that made the stored answer unstorable).
        var notStored: NotStoredReason? = nil
    }

    struct StreamStart {
        var head: UpstreamResponseHead
        let framing: BodyFraming
        let mark: CacheMark
        /// The flight this request leads ends so (its answer is not stored).
        var land: FlightResult?
        /// Vary names the route's key learns (a fill not stored for an unknown Vary).
        var learnVary: [String] = []
        /// Body bytes already here, sent right after the head.
        var body: [ByteBuffer] = []
        /// Of those, how many bytes the transfer still waits to hear were taken.
        var unacknowledged = 0
        /// The `limits.bodyMemory` share of the body collected for a fill that turned out
        /// not storable: kept until that body is written, since until the client reads
        /// it the process still holds it. Let go at the switch to streaming, clients that
        /// read nothing held some maxBodySize each, counted nowhere (40 of them 478 MB).
        var collectedShare: BodyMemory.Hold?
        /// The upstream already ended: end the answer after them.
        var ended = false
    }
}
