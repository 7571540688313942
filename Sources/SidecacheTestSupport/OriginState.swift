import NIOCore
import Synchronization

/// The mutable heart of a `ScriptedOrigin`: scripts, the request log and open connections,
/// each behind a lock that is never held across I/O.
final class OriginState: Sendable {
    private struct Log {
        var requests: [OriginRequest] = []
        var connectionsAccepted = 0
    }

    private struct Connections {
        var open: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    private let scripts = Mutex<[OriginScript]>([])
    private let log = Mutex(Log())
    private let connections = Mutex(Connections())

    // MARK: scripts

    func add(method: String?, pattern: String, responder: @escaping @Sendable (OriginRequest) async -> OriginResponse) {
        scripts.withLock { list in
            list.append(OriginScript(method: method, pattern: pattern, order: list.count, responder: responder))
        }
    }

    func responder(for request: OriginRequest) -> (@Sendable (OriginRequest) async -> OriginResponse)? {
        let all = scripts.withLock { $0 }
        return OriginScript.select(all, method: request.method, path: request.path)?.responder
    }

    // MARK: log

    func record(_ request: OriginRequest) {
        log.withLock { $0.requests.append(request) }
    }

    var requests: [OriginRequest] {
        log.withLock { $0.requests }
    }

    var connectionsAccepted: Int {
        log.withLock { $0.connectionsAccepted }
    }

    func reset() {
        log.withLock { $0 = Log() }
    }

    // MARK: connections

    /// Registers an accepted connection; false once shutdown has begun (close it instead).
    func opened(_ channel: any Channel) -> Bool {
        let accepted = connections.withLock { state -> Bool in
            guard !state.shuttingDown else { return false }
            state.open[ObjectIdentifier(channel)] = channel
            return true
        }
        if accepted { log.withLock { $0.connectionsAccepted += 1 } }
        return accepted
    }

    /// Connections open now.
    var openConnections: Int { connections.withLock { $0.open.count } }

    func closed(_ channel: any Channel) {
        _ = connections.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Stops accepting and returns the connections still open, for the caller to close.
    func beginShutdown() -> [any Channel] {
        connections.withLock { state in
            state.shuttingDown = true
            return Array(state.open.values)
        }
    }
}
