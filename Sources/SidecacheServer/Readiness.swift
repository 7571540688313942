import Synchronization

/// Whether the server takes traffic: `/readyz` answers 503 from the moment a drain
/// starts (SIGTERM), before the listener stops accepting, so load balancers stop
/// sending first.
final class Readiness: Sendable {
    private let draining = Atomic(false)

    var isDraining: Bool { draining.load(ordering: .acquiring) }

    func startDraining() { draining.store(true, ordering: .releasing) }
}
