import SidecacheCore
import Synchronization

/// Lines a failure writes once per request, kept to `perSecond` a second: with the
/// upstream down, "upstream failed" was a line per request, and clients asking for
/// long paths wrote 477 MB of log in 20 s (the soak audit's). The metrics still count
/// every failure; the next line written says how many were left out.
final class LogBudget: Sendable {
    let perSecond: Int
    private let state = Mutex((second: Int64.min, written: 0, unlogged: 0))

    init(perSecond: Int) {
        self.perSecond = perSecond
    }

    /// Whether a line may be written at `now`: nil leaves it out; else the lines left
    /// out since the last one written.
    func take(at now: Timestamp) -> Int? {
        let second = now.milliseconds / 1000
        return state.withLock { s in
            if second != s.second { (s.second, s.written) = (second, 0) }
            guard s.written < perSecond else {
                s.unlogged += 1
                return nil
            }
            s.written += 1
            defer { s.unlogged = 0 }
            return s.unlogged
        }
    }
}
