import NIOCore

/// Whether Redis may be waited on. Pure state machine; the link keeps it under a lock.
///
/// Closed: commands go. After `threshold` failures in a row it opens: commands fail at
/// once, so no request waits on a sick Redis, for a cool-down that doubles on every
/// failed probe up to `maxCoolDown`. After the cool-down one command is let through
/// as a probe (half-open); its success closes the breaker.
struct CircuitBreaker {
    enum State: Equatable {
        case closed(failures: Int)
        case open(until: NIODeadline)
        case halfOpen
    }

    private(set) var state = State.closed(failures: 0)
    private var coolDown: TimeAmount
    let threshold: Int
    let initialCoolDown: TimeAmount
    let maxCoolDown: TimeAmount

    init(threshold: Int = 3, initialCoolDown: TimeAmount = .milliseconds(100), maxCoolDown: TimeAmount = .seconds(2)) {
        self.threshold = threshold
        self.initialCoolDown = initialCoolDown
        self.maxCoolDown = maxCoolDown
        self.coolDown = initialCoolDown
    }

    var label: String {
        switch state {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half-open"
        }
    }

    /// Whether `allow` would let a command go at `now` (it does not move the state).
    func wouldAllow(now: NIODeadline) -> Bool {
        switch state {
        case .closed: true
        case .halfOpen: false
        case .open(let until): now >= until
        }
    }

    /// Whether a command may go now; moves an expired open breaker to half-open.
    mutating func allow(now: NIODeadline) -> Bool {
        switch state {
        case .closed: return true
        case .halfOpen: return false
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            return true
        }
    }

    /// Returns true when this success closed an open breaker.
    mutating func succeeded() -> Bool {
        let wasOpen: Bool
        if case .closed = state { wasOpen = false } else { wasOpen = true }
        state = .closed(failures: 0)
        coolDown = initialCoolDown
        return wasOpen
    }

    /// Returns true when this failure opened the breaker.
    mutating func failed(now: NIODeadline) -> Bool {
        switch state {
        case .closed(let failures) where failures + 1 < threshold:
            state = .closed(failures: failures + 1)
            return false
        case .closed:
            state = .open(until: now + coolDown)
            return true
        case .halfOpen:
            coolDown = min(coolDown * 2, maxCoolDown)
            state = .open(until: now + coolDown)
            return false
        case .open:
            return false
        }
    }
}
