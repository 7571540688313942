import NIOCore
import Synchronization

/// Open client connections: admission against the limit, and the drain at shutdown.
///
/// A connection holds its place from admission until its close, and past its close for
/// as long as a mutation its client left runs on (`hold`): clients that send mutations
/// and leave cannot have the upstream work on more requests than the limit admits.
final class ConnectionRegistry: Sendable {
    private struct Place {
        let channel: any Channel
        /// The open connection's, and one for each mutation it left running.
        var holds: Int
    }

    private struct State {
        var open: [ObjectIdentifier: Place] = [:]
        /// Set by `drainAll`: resolved when the last place is released (the last
        /// connection closed, and the mutations left running are done).
        var emptied: Latch<Void>?
    }

    private let state = Mutex(State())

    /// False past the limit, and once draining (a connection accepted just before the
    /// listener closed must not slip past the drain).
    func admit(_ channel: any Channel, limit: Int) -> Bool {
        state.withLock { state in
            guard state.emptied == nil, state.open.count < limit else { return false }
            state.open[ObjectIdentifier(channel)] = Place(channel: channel, holds: 1)
            return true
        }
    }

    /// Keeps the place of `channel`, closed, until the mutation its client left running
    /// (`Exchange.clientGone`) has run the purges the upstream's answer decides: its close
    /// releases one hold, this takes another. Nothing for a channel not admitted.
    func keepPlace(of channel: any Channel, until exchange: Exchange) {
        state.withLock { $0.open[ObjectIdentifier(channel)]?.holds += 1 }
        exchange.onOrphanSettled = { [self] in release(channel) }
    }

    func release(_ channel: any Channel) {
        let emptied = state.withLock { state -> Latch<Void>? in
            let id = ObjectIdentifier(channel)
            guard let holds = state.open[id]?.holds else { return nil }
            if holds > 1 {
                state.open[id]?.holds = holds - 1
                return nil
            }
            state.open.removeValue(forKey: id)
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
            return state.open.values.map(\.channel)
        }
        if open.isEmpty { emptied.resolve(()) }
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
        return emptied
    }

    func closeAll() {
        for channel in state.withLock({ $0.open.values.map(\.channel) }) { channel.close(promise: nil) }
    }
}
