/// Binary values in and out of the test server, which redis-cli's arguments cannot
/// carry (a stored entry holds NULs): RESP written by hand on a raw connection.
extension RedisServer {
    /// The value at `key`, or nil when there is none.
    public func bytes(_ key: String) async throws -> [UInt8]? {
        let reply = try await exchange([Array("GET".utf8), Array(key.utf8)])
        guard reply.first == UInt8(ascii: "$"), let end = reply.firstIndex(of: UInt8(ascii: "\r")),
              let length = Int(String(decoding: reply[1..<end], as: UTF8.self)) else {
            throw TestSupportError(.unexpectedReply, "GET \(key): \(String(decoding: reply, as: UTF8.self))")
        }
        guard length >= 0 else { return nil }
        return Array(reply[(end + 2)..<(end + 2 + length)])
    }

    /// SET `key` to exactly `value`.
    public func set(_ key: String, bytes value: [UInt8]) async throws {
        let reply = try await exchange([Array("SET".utf8), Array(key.utf8), value])
        guard reply.starts(with: Array("+OK\r\n".utf8)) else {
            throw TestSupportError(.unexpectedReply, "SET \(key): \(String(decoding: reply, as: UTF8.self))")
        }
    }

    /// Sends one command (after AUTH when the server has a password) and QUIT, and
    /// returns the command's reply and what follows it.
    private func exchange(_ command: [[UInt8]]) async throws -> [UInt8] {
        var out: [UInt8] = []
        func append(_ arguments: [[UInt8]]) {
            out += Array("*\(arguments.count)\r\n".utf8)
            for a in arguments { out += Array("$\(a.count)\r\n".utf8) + a + Array("\r\n".utf8) }
        }
        if let password { append([Array("AUTH".utf8), Array(password.utf8)]) }
        append(command)
        append([Array("QUIT".utf8)])
        let connection = try await RawConnection.connect(port: port)
        try await connection.send(out)
        var reply = try await connection.readUntilClose().bytes
        if password != nil, let end = reply.firstIndex(of: UInt8(ascii: "\n")) { reply.removeFirst(end + 1) }   // AUTH's +OK
        return reply
    }
}
