import NIOCore
import SidecacheCore
import SidecacheStore
import Synchronization

/// How a fill ended, as the requests that waited on it need to know.
enum FlightResult: Sendable {
    /// Stored: look up again (the entry is there now, checked like any other).
    case stored
    /// Not storable (remembered as hit-for-miss), or not stored this time: fetch on your own.
    case fetchYourself(uncacheable: Bool)
    /// Storable, but this fill stored nothing for a reason of its own (its client left,
    /// a purge overtook it), which the next fill will not share: look up and queue again.
    case queueAgain
    /// Not stored because of the leader's own request (its `no-store`, its
    /// `Authorization`): a waiter whose request would be kept out the same way fetches
    /// now (each would lead a round that stores nothing); the others queue again.
    case keptOut(NotStoredReason)
    /// The upstream failed: answer with stale-if-error or this error. `queueAgain`: it
    /// had the leader's request and broke off (a reset, garbage, no answer), which
    /// another client's request may not cause: the waiters queue again, once, and one of
    /// them fetches (the coalescing audit's: one client whose request made the upstream
    /// reset had every waiter answered 502). A refused connection or a timeout is everyone's.
    case failed(ProxyError, queueAgain: Bool)
}

/// One upstream fetch per key at a time on this instance. The first miss leads a
/// flight; concurrent misses wait on it instead of fetching. A key whose answer was
/// not storable is remembered for a short while (Varnish's hit-for-miss) so its
/// misses do not queue one behind another.
final class FillRegistry: Sendable {
    struct Waiter: Sendable {
        let id: UInt64
        let deliver: @Sendable (FlightResult) -> Void
    }

    private struct Flight {
        let id: UInt64
        let fillSeq: UInt64
        let scopeIDs: [UInt64]
        var waiters: [Waiter] = []
    }

    /// A key whose answer was not storable, until when, and as of which fill: a purge of
    /// its scopes since forgets it (the answer after a purge is a new one; the coalescing
    /// audit had one 500 keep a key's misses from coalescing 10 s, the purge and the
    /// fixed upstream notwithstanding).
    private struct Uncacheable {
        let until: Timestamp
        let fillSeq: UInt64
        let scopeIDs: [UInt64]
    }

    private struct State {
        /// The flight new misses of a key may join.
        var flights: [CacheKey: Flight] = [:]
        /// Flights a newer one replaced (a purge overtook them) that have not landed
        /// yet: their waiters are still told when they do.
        var superseded: [UInt64: Flight] = [:]
        var uncacheable: [CacheKey: Uncacheable] = [:]
        var nextID: UInt64 = 1
    }

    enum Role {
        case lead(flight: UInt64)
        case wait(waiter: UInt64)
        /// Recently not storable: fetch without coalescing.
        case alone
    }

    private let state = Mutex(State())
    static let hitForMiss = Duration.seconds(10)
    static let maxRemembered = 10_000

    /// Joins the flight for `key`, or leads a new one. A flight that started before a
    /// purge of the key's scopes is never joined: its answer may predate the purge.
    func enter(_ key: CacheKey, fillSeq: UInt64, scopeIDs: [UInt64], ledger: PurgeLedger, now: Timestamp,
               deliver: @escaping @Sendable (FlightResult) -> Void) -> Role {
        state.withLock { s in
            if let mark = s.uncacheable[key] {
                if now < mark.until && ledger.mayStore(fillSeq: mark.fillSeq, scopeIDs: mark.scopeIDs) { return .alone }
                s.uncacheable[key] = nil
            }
            let id = s.nextID
            s.nextID += 1
            if var flight = s.flights[key], ledger.mayStore(fillSeq: flight.fillSeq, scopeIDs: scopeIDs) {
                flight.waiters.append(Waiter(id: id, deliver: deliver))
                s.flights[key] = flight
                return .wait(waiter: id)
            }
            if let overtaken = s.flights[key] { s.superseded[overtaken.id] = overtaken }
            s.flights[key] = Flight(id: id, fillSeq: fillSeq, scopeIDs: scopeIDs)
            return .lead(flight: id)
        }
    }

    /// Leads a flight only if none is under way (background revalidation, warming, the
    /// admin API) — none whose answer may still be stored: one a purge overtook is
    /// replaced, as `enter` does, or a refresh right after a purge would be refused
    /// while the fill it deferred to stores nothing.
    func lead(_ key: CacheKey, fillSeq: UInt64, scopeIDs: [UInt64], ledger: PurgeLedger) -> UInt64? {
        state.withLock { s in
            if let flight = s.flights[key] {
                guard !ledger.mayStore(fillSeq: flight.fillSeq, scopeIDs: scopeIDs) else { return nil }
                s.superseded[flight.id] = flight
            }
            let id = s.nextID
            s.nextID += 1
            s.flights[key] = Flight(id: id, fillSeq: fillSeq, scopeIDs: scopeIDs)
            return id
        }
    }

    /// Ends the leader's flight and tells every waiter. Delivery runs outside the lock.
    func land(_ key: CacheKey, flight id: UInt64, _ result: FlightResult, now: Timestamp) {
        let waiters: [Waiter] = state.withLock { s in
            if let overtaken = s.superseded.removeValue(forKey: id) { return overtaken.waiters }
            guard let flight = s.flights[key], flight.id == id else { return [] }
            s.flights[key] = nil
            if case .fetchYourself(uncacheable: true) = result {
                if s.uncacheable.count >= Self.maxRemembered { s.uncacheable.removeAll() }
                s.uncacheable[key] = Uncacheable(until: now + Self.hitForMiss, fillSeq: flight.fillSeq, scopeIDs: flight.scopeIDs)
            }
            return flight.waiters
        }
        for w in waiters { w.deliver(result) }
    }

    /// A waiter gave up (its wait bound passed, or its client left): it is not told later.
    func leave(_ key: CacheKey, waiter id: UInt64) {
        state.withLock { s in
            s.flights[key]?.waiters.removeAll { $0.id == id }
            for flightID in s.superseded.keys { s.superseded[flightID]?.waiters.removeAll { $0.id == id } }
        }
    }
}
