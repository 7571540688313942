import SidecacheCore

/// What a scope's counter says about soft purges (`"mode": "stale"`) in Redis.
///
/// A purge counts the scope's counter up, hard or soft, so entries filled under the old
/// value stop matching. A soft purge also leaves this mark next to the counter: the run
/// of counter values `(from, to]` that soft purges alone produced, and the time of the
/// latest. An entry filled under `v` whose counter now reads `to`, with `from ≤ v < to`,
/// missed soft purges only: it is stale since `at`, not gone. A hard purge counts up
/// without touching the mark, so the counter passes `to` and the mark no longer covers
/// anything. Counter values are compared as decimal text in Lua (they exceed a double's
/// 53 bits) and as integers here.
struct SoftPurgeMark: Equatable {
    var from: UInt64
    var to: UInt64
    var at: Timestamp

    /// The stored form, `"from to milliseconds"`, as `softBump` writes it.
    init?(_ text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 3, let from = UInt64(parts[0]), let to = UInt64(parts[1]), from < to,
              let ms = Int64(parts[2]) else { return nil }
        self.init(from: from, to: to, at: Timestamp(milliseconds: ms))
    }

    init(from: UInt64, to: UInt64, at: Timestamp) {
        self.from = from
        self.to = to
        self.at = at
    }

    /// Whether a counter that was `filled` at the fill and is `current` now moved by soft purges only.
    func covers(filled: UInt64, current: UInt64) -> Bool { to == current && from <= filled && filled < to }

    /// When an entry filled under `filledUnder`, whose counters now read `current`, went
    /// stale: nil when any counter that moved lacks a mark covering the move (a hard purge,
    /// a lost or re-created counter, another epoch), or when none moved.
    /// `marks` holds the marks of the scopes whose counters moved.
    static func staleSince(filledUnder: EntryCodec.Generations, current: EntryCodec.Generations,
                           marks: [UInt64: SoftPurgeMark]) -> Timestamp? {
        guard filledUnder.epoch == current.epoch, filledUnder.values.count == current.values.count else { return nil }
        var latest: Timestamp?
        for (filled, now) in zip(filledUnder.values, current.values) {
            guard filled.scope == now.scope else { return nil }
            if filled.value == now.value { continue }
            guard let mark = marks[now.scope], mark.covers(filled: filled.value, current: now.value) else { return nil }
            latest = max(latest ?? mark.at, mark.at)
        }
        return latest
    }

    /// The scopes whose counters differ between the two (those whose marks decide).
    static func moved(_ filledUnder: EntryCodec.Generations, _ current: EntryCodec.Generations) -> [UInt64] {
        zip(filledUnder.values, current.values).compactMap { $0.value != $1.value ? $1.scope : nil }
    }

    /// One soft purge of one scope: counts the counter (KEYS[1]) up if it is there, and
    /// records in the mark (KEYS[2]) that this step was soft, at ARGV[1] milliseconds,
    /// extending the mark's run when the step before was soft too. The mark lives as long
    /// as the counter, so as long as any entry filled under it.
    static let softBump = """
    local old = redis.call('GET', KEYS[1])
    if not old then return 0 end
    redis.call('INCR', KEYS[1])
    local new = redis.call('GET', KEYS[1])
    local from = old
    local mark = redis.call('GET', KEYS[2])
    if mark then
      local f, t = string.match(mark, '^(%d+) (%d+) ')
      if t == old then from = f end
    end
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl > 0 then
      redis.call('SET', KEYS[2], from .. ' ' .. new .. ' ' .. ARGV[1], 'PX', ttl)
    else
      redis.call('SET', KEYS[2], from .. ' ' .. new .. ' ' .. ARGV[1])
    end
    return 1
    """
}
