import SidecacheCore

extension RedisEndpoint {
    static func parse(_ text: String) -> Result<RedisEndpoint, Invalid> {
        if text.hasPrefix("redis+") || text.hasPrefix("rediss+") {
            return .failure(Invalid("Redis Cluster and Sentinel URLs are not supported yet: use redis:// or rediss:// to one server (a cluster's or sentinel's master)"))
        }
        let tls = text.hasPrefix("rediss://")
        guard tls || text.hasPrefix("redis://") else {
            return .failure(Invalid("\"\(text)\" is not a redis:// or rediss:// URL (redis://[user:password@]host:port/db)"))
        }
        var rest = Substring(text.dropFirst(tls ? "rediss://".count : "redis://".count))
        var endpoint = RedisEndpoint(host: "", tls: tls)
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = percentDecoded(credentials[..<colon])
                endpoint.user = user.isEmpty ? nil : user
                endpoint.password = percentDecoded(credentials[credentials.index(after: colon)...])
            } else {
                endpoint.password = percentDecoded(credentials)   // redis://secret@host: a password alone
            }
        }
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { return .failure(Invalid("\"\(db)\" is not a database number")) }
                endpoint.database = n
            }
        }
        if let address = ListenAddress.parse(String(rest)) {
            endpoint.host = address.host
            endpoint.port = address.port
        } else if !rest.isEmpty, !rest.contains(":") {
            endpoint.host = String(rest)
        } else {
            return .failure(Invalid("\"\(text)\" has no valid host[:port]"))
        }
        return .success(endpoint)
    }
}

/// `%XX` escapes decoded (passwords in URLs may carry them).
private func percentDecoded(_ s: Substring) -> String {
    var bytes: [UInt8] = []
    var i = s.utf8.startIndex
    while i < s.utf8.endIndex {
        let b = s.utf8[i]
        if b == UInt8(ascii: "%"), let end = s.utf8.index(i, offsetBy: 3, limitedBy: s.utf8.endIndex),
           let v = UInt8(String(s[s.utf8.index(after: i)..<end]), radix: 16) {
            bytes.append(v)
            i = end
        } else {
            bytes.append(b)
            i = s.utf8.index(after: i)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
