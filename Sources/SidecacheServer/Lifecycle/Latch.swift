import Synchronization

/// A one-time event that tasks can wait for: a part having started, the last client
/// connection having closed. Waiting suspends (no polling) and ends early when the
/// waiting task is cancelled, so a waiter can be raced against a deadline.
final class Latch<Value: Sendable>: Sendable {
    private struct Waiting {
        var next = 0
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
    }

    private enum State {
        case waiting(Waiting)
        case resolved(Value)
    }

    private let state = Mutex<State>(.waiting(Waiting()))

    init() {}

    /// Happens with `value`, waking every waiter. Only the first call counts.
    func resolve(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard case .waiting(let waiting) = state else { return [] }
            state = .resolved(value)
            return Array(waiting.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value, once resolved; throws `CancellationError` if the task is cancelled first.
    func wait() async throws -> Value {
        let id = state.withLock { state -> Int in
            guard case .waiting(var waiting) = state else { return 0 }
            defer { waiting.next += 1; state = .waiting(waiting) }
            return waiting.next
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let now = state.withLock { state -> Result<Value, any Error>? in
                    switch state {
                    case .resolved(let value): return .success(value)
                    case .waiting(var waiting):
                        // Cancelled before this registration: the handler below found nothing to resume.
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiting.waiters[id] = continuation
                        state = .waiting(waiting)
                        return nil
                    }
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                guard case .waiting(var waiting) = state else { return nil }
                defer { state = .waiting(waiting) }
                return waiting.waiters.removeValue(forKey: id)
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
