import NIOCore
import NIOHTTP1
import SidecacheCore

extension OriginState {
    /// Accepts connections until the listener closes; each is served in its own child task.
    func acceptConnections(
        _ server: NIOAsyncChannel<ScriptedOrigin.Connection, Never>
    ) async {
        try? await server.executeThenClose { inbound in
            await withDiscardingTaskGroup { group in
                do {
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                } catch {
                    // The listener failed or closed; open connections finish on their own.
                }
            }
        }
    }

    /// Serves sequential requests on one keep-alive connection until either side closes.
    private func serve(_ connection: ScriptedOrigin.Connection) async {
        let channel = connection.channel
        guard opened(channel) else {
            // Closed through the async channel: a wrapper dropped without finishing its
            // writer is a fatal error in NIO's debug builds (it crashed the whole suite
            // when a connection arrived during shutdown).
            try? await connection.executeThenClose { _, _ in }
            return
        }
        defer { closed(channel) }
        try? await connection.executeThenClose { inbound, _ in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let next):
                    head = next
                    body = []
                case .body(let chunk):
                    body.append(contentsOf: chunk.readableBytesView)
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let keepAlive = try await answer(request, body: body, on: channel)
                    if !keepAlive { return }
                }
            }
        }
    }

    /// Logs the request, runs its responder and writes the answer. Returns whether the
    /// connection stays open.
    private func answer(_ head: HTTPRequestHead, body: [UInt8], on channel: any Channel) async throws -> Bool {
        let request = OriginRequest(
            method: wireMethodName(head.method.rawValue),
            uri: head.uri,
            headers: head.headers.map { (name: $0.name, value: $0.value) },
            body: body
        )
        record(request)
        let response: OriginResponse
        if let responder = responder(for: request) {
            response = await responder(request)
        } else {
            response = .text("no script", status: 404)
        }
        if response.aborts {
            try? await channel.close()
            return false
        }
        try await response.write(on: channel, isHead: head.method == .HEAD)
        return head.isKeepAlive && !response.closesConnection
    }
}
