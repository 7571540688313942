import NIOCore

/// Events produced during one turn of the curl loop, grouped by event loop and sent
/// with one `execute` per loop at the end of the turn. Under load a small answer's
/// head, body and end (and other transfers' events) then cost one cross-thread
/// wake-up instead of one each. Order is kept: per loop, events leave in the order
/// they were posted. Confined to the curl thread.
final class EventOutbox {
    typealias Delivery = (onEvent: @Sendable (UpstreamEvent) -> Void, event: UpstreamEvent)

    private var batches: [ObjectIdentifier: (loop: any EventLoop, items: [Delivery])] = [:]

    func post(_ event: UpstreamEvent, to loop: any EventLoop, _ onEvent: @escaping @Sendable (UpstreamEvent) -> Void) {
        let id = ObjectIdentifier(loop)
        if batches[id] == nil {
            batches[id] = (loop, [(onEvent, event)])
        } else {
            batches[id]!.items.append((onEvent, event))
        }
    }

    func flush() {
        guard !batches.isEmpty else { return }
        for (_, batch) in batches {
            let items = batch.items
            batch.loop.execute {
                for item in items { item.onEvent(item.event) }
            }
        }
        batches.removeAll(keepingCapacity: true)
    }
}
