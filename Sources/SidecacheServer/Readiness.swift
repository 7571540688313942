import Synchronization

/// Whether the server takes traffic. The admin listener starts before the proxy
/// listener and stops after it (see `ProxyServer.parts`), so `/readyz` answers 503
/// until the proxy listener is bound, and again from the moment a drain starts
/// (SIGTERM), before the listener stops accepting, so load balancers stop sending first.
final class Readiness: Sendable {
    private enum Phase: UInt8, AtomicRepresentable { case starting, serving, draining }

    private let phase = Atomic(Phase.starting)

    var isServing: Bool { phase.load(ordering: .acquiring) == .serving }

    func startServing() { phase.store(.serving, ordering: .releasing) }

    func startDraining() { phase.store(.draining, ordering: .releasing) }
}
