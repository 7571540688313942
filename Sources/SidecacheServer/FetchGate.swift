import Synchronization

/// At most `limit` holders at once; the others wait in order. For the proxy's own
/// fetches that a list can start by the thousand (`Warmer`): each opens an upstream
/// connection, and all at once they ran the process out of descriptors while the
/// clients waited.
final class FetchGate: Sendable {
    private struct State {
        var holders = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Runs `body` once a place is free, and frees it after.
    func run<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await enter()
        defer { leave() }
        return try await body()
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let entered = state.withLock { state -> Bool in
                guard state.holders < limit else {
                    state.waiting.append(continuation)
                    return false
                }
                state.holders += 1
                return true
            }
            if entered { continuation.resume() }
        }
    }

    /// The place goes to the first waiter, if any.
    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.holders -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
