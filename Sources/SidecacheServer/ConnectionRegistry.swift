import NIOCore
import Synchronization

/// Open client connections: admission against the limit, and the drain at shutdown.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        /// Set by `drainAll`: resolved when the last open connection has closed.
        var emptied: Latch<Void>?
    }

    private let state = Mutex(State())

    /// False past the limit, and once draining (a connection accepted just before the
    /// listener closed must not slip past the drain).
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        state.withLock { state in
            guard state.emptied == nil, state.open.count < limit else { return false }
            state.open[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        let emptied = state.withLock { state -> Latch<Void>? in
            state.open.removeValue(forKey: ObjectIdentifier(channel))
            return state.open.isEmpty ? state.emptied : nil
        }
        emptied?.resolve(())
    }

    var count: Int { state.withLock { $0.open.count } }

    /// Tells every open connection to finish the answer it owes and close. Returns the
    /// event of the last one closing, which shutdown awaits instead of counting.
    func drainAll() -> Latch<Void> {
        let emptied = Latch<Void>()
        let open = state.withLock { state in
            state.emptied = emptied
            return Array(state.open.values)
        }
        if open.isEmpty { emptied.resolve(()) }
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
        return emptied
    }

    func closeAll() {
        for channel in state.withLock({ Array($0.open.values) }) { channel.close(promise: nil) }
    }
}
