import NIOCore

/// Events produced during one turn of the curl loop, grouped by event loop and sent
/// with one `execute` per loop at the end of the turn. Under load a small answer's
/// head, body and end (and other transfers' events) then cost one cross-thread
/// wake-up instead of one each. Within a loop's batch each transfer's events are
/// gathered into one delivery, in the order they were posted, so its consumer sees a
/// small answer whole and can send it to the client in one write. Confined to the
/// curl thread.
final class EventOutbox {
    private struct Delivery {
        /// Held, not just identified: a transfer that ended this turn must not lend its
        /// address to one started later in the same turn.
        let transfer: UpstreamTransfer
        let onEvents: @Sendable ([UpstreamEvent]) -> Void
        var events: [UpstreamEvent]

        init(transfer: UpstreamTransfer, onEvents: @escaping @Sendable ([UpstreamEvent]) -> Void, first: UpstreamEvent) {
            self.transfer = transfer
            self.onEvents = onEvents
            events = []
            events.reserveCapacity(4)   // head, body, end: a small answer's whole turn
            events.append(first)
        }
    }

    private var batches: [ObjectIdentifier: (loop: any EventLoop, deliveries: [Delivery])] = [:]

    func post(_ event: UpstreamEvent, of transfer: UpstreamTransfer, to loop: any EventLoop,
              _ onEvents: @escaping @Sendable ([UpstreamEvent]) -> Void) {
        let id = ObjectIdentifier(loop)
        guard batches[id] != nil else {
            batches[id] = (loop, [Delivery(transfer: transfer, onEvents: onEvents, first: event)])
            return
        }
        // A turn carries a few dozen transfers at most; the one posting is usually last.
        if let i = batches[id]!.deliveries.lastIndex(where: { $0.transfer === transfer }) {
            batches[id]!.deliveries[i].events.append(event)
        } else {
            batches[id]!.deliveries.append(Delivery(transfer: transfer, onEvents: onEvents, first: event))
        }
    }

    func flush() {
        guard !batches.isEmpty else { return }
        for (_, batch) in batches {
            let deliveries = batch.deliveries
            batch.loop.execute {
                for delivery in deliveries { delivery.onEvents(delivery.events) }
            }
        }
        batches.removeAll(keepingCapacity: true)
    }
}
