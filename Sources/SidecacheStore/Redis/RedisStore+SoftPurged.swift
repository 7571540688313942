import NIOCore
import SidecacheCore

/// Reading entries that soft purges made stale (`SoftPurgeMark`).
extension RedisStore {
    /// `found` is served when the counters guarding it (`now`) still hold its fill's
    /// values; when only soft purges moved them, it is served stale since the latest
    /// (their marks tell, one more read); otherwise it is a miss.
    func judge(_ found: Found, against now: EntryCodec.Generations, current: EntryCodec.Generations, _ stripe: Int,
               into answer: some LookupAnswer, on loop: any EventLoop) {
        let filledUnder = found.decoded.generations
        let missed = Lookup(found: nil, current: current)
        if filledUnder == now { return answer.answered(.success(Lookup(found: found, current: current))) }
        let moved = SoftPurgeMark.moved(filledUnder, now)
        guard filledUnder.epoch == now.epoch, filledUnder.values.count == now.values.count, !moved.isEmpty else {
            return answer.answered(.success(missed))
        }
        let command: [RedisArgument] = ["MGET"] + moved.map { .text(keys.softMark($0, stripe)) }
        redis.send([command], slot: keys.slots[stripe], on: loop).map { replies in
            var marks: [UInt64: SoftPurgeMark] = [:]
            if let values = replies.first?.array, values.count == moved.count {
                for (scope, value) in zip(moved, values) {
                    if let mark = value.bytes.flatMap({ SoftPurgeMark(String(buffer: $0)) }) { marks[scope] = mark }
                }
            }
            guard let since = SoftPurgeMark.staleSince(filledUnder: filledUnder, current: now, marks: marks) else { return missed }
            return Lookup(found: found, current: current, staleSince: since)
        }.recover { _ in missed }.whenComplete { [answer] in answer.answered($0) }
    }
}
