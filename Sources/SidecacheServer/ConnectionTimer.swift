import NIOCore

/// The decisions of a connection's one timer, as plain values: what to do when it
/// fires, and when to look again. Kept apart from the handler so every case — above
/// all "never re-arm for a moment already past", which once spun an event loop at
/// 100 % — is tested without a channel.
enum ConnectionTimer {
    /// Where the connection stands when the timer fires.
    enum Phase: Equatable {
        /// Between requests (a head may be trickling in).
        case idle
        /// A head arrived; its body is being received.
        case receiving
        /// An answer is being produced or written.
        case responding(writable: Bool)
        /// Closing after a final flush, or lingering (`LingeringClose`) after it.
        case closing
    }

    enum Verdict: Equatable {
        /// Close politely: write what is pending, then close.
        case closeAfterFlush
        /// Close now: the client takes no bytes, so a flush would never end.
        case cutOff
        /// Nothing to do: look again at this deadline.
        case next(NIODeadline)
    }

    /// `lastActivity` is the last sign of life: a byte read, a write the client took,
    /// the end of an answer. `headStarted` is the first byte of a head still arriving.
    static func decide(_ phase: Phase, now: NIODeadline, lastActivity: NIODeadline, headStarted: NIODeadline?,
                       idle: TimeAmount, headLimit: TimeAmount) -> Verdict {
        let idleTooLong = now >= lastActivity + idle
        switch phase {
        case .idle where headStarted.map { now >= $0 + headLimit } ?? false:
            return .closeAfterFlush   // a head trickling in: slowloris
        case .idle where idleTooLong, .receiving where idleTooLong:
            return .closeAfterFlush
        case .responding(writable: false) where idleTooLong, .closing where idleTooLong:
            return .cutOff
        default:
            return .next(nextCheck(now: now, lastActivity: lastActivity, idle: idle, headLimit: headLimit))
        }
    }

    /// The next look: when the connection would turn idle, or `idle` from now if that
    /// moment has passed (an answer still being written is not idle), and at least
    /// every half header timeout (so a trickled head is cut within 1.5× the limit).
    /// Never earlier than `now`.
    static func nextCheck(now: NIODeadline, lastActivity: NIODeadline, idle: TimeAmount, headLimit: TimeAmount) -> NIODeadline {
        let due = lastActivity + idle
        let tick = TimeAmount.nanoseconds(max(headLimit.nanoseconds / 2, 10_000_000))
        return min(due > now ? due : now + idle, now + tick)
    }
}
