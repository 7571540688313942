import SidecacheCore

extension RedisEndpoint {
    /// The endpoint `text` names. A problem quotes the URL with its password masked
    /// (`redis://user:***@…`): the message goes to stderr, `sidecache check` and, on a
    /// rejected reload, the logs.
    static func parse(_ text: String) -> Result<RedisEndpoint, Invalid> {
        parseURL(text).mapError { invalid in
            let masked = masked(text)
            return masked == text ? invalid : Invalid(invalid.message.replacing(text, with: masked))
        }
    }

    /// `text` with what is between `://` and the last `@` (the credentials) shown as
    /// `user:***`, or `***` for a password alone.
    static func masked(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text.lastIndex(of: "@"), at > scheme.upperBound else { return text }
        let credentials = text[scheme.upperBound..<at]
        let user = credentials.firstIndex(of: ":").map { credentials[..<$0] + ":" } ?? ""
        return text[..<scheme.upperBound] + user + "***" + text[at...]
    }

    private static func parseURL(_ text: String) -> Result<RedisEndpoint, Invalid> {
        if text.hasPrefix("redis+sentinel://") || text.hasPrefix("rediss+sentinel://") { return parseSentinel(text) }
        if text.hasPrefix("redis+cluster://") || text.hasPrefix("rediss+cluster://") { return parseCluster(text) }
        if text.hasPrefix("redis+") || text.hasPrefix("rediss+") {
            return .failure(Invalid("\"\(text)\" is not a Redis URL: redis://, rediss://, redis+cluster:// or redis+sentinel:// (and their rediss+ forms)"))
        }
        let tls = text.hasPrefix("rediss://")
        guard tls || text.hasPrefix("redis://") else {
            return .failure(Invalid("\"\(text)\" is not a redis:// or rediss:// URL (redis://[user:password@]host:port/db)"))
        }
        var rest = Substring(text.dropFirst(tls ? "rediss://".count : "redis://".count))
        var endpoint = RedisEndpoint(host: "", tls: tls)
        endpoint.takeCredentials(from: &rest)
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

extension RedisEndpoint {
    /// `redis+sentinel://[user:password@]s1:26379,s2:26379/MASTER[/db]` (`rediss+sentinel://`
    /// for TLS to the master and the sentinels). The credentials are the master's.
    static func parseSentinel(_ text: String) -> Result<RedisEndpoint, Invalid> {
        let tls = text.hasPrefix("rediss+")
        let scheme = tls ? "rediss+sentinel://" : "redis+sentinel://"
        var rest = Substring(text.dropFirst(scheme.count))
        var endpoint = RedisEndpoint(host: "", tls: tls)
        endpoint.takeCredentials(from: &rest)
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, !parts[1].isEmpty else {
            return .failure(Invalid("\"\(text)\" needs the master's name: \(scheme)host:26379,host:26379/MASTER[/db]"))
        }
        if parts.count == 3, !parts[2].isEmpty {
            guard let n = Int(parts[2]), n >= 0 else { return .failure(Invalid("\"\(parts[2])\" is not a database number")) }
            endpoint.database = n
        }
        let nodes: [Node]
        switch parseNodes(parts[0], of: "sentinel", in: text) {
        case .success(let parsed): nodes = parsed
        case .failure(let invalid): return .failure(invalid)
        }
        endpoint.sentinel = Sentinel(nodes: nodes, master: String(parts[1]))
        endpoint.host = nodes[0].host
        endpoint.port = nodes[0].port
        return .success(endpoint)
    }

    /// `redis+cluster://[user:password@]h1:p1,h2:p2[/0]` (`rediss+cluster://` for TLS to
    /// every node): seed nodes; the rest of the cluster is learnt from them. A cluster
    /// has only database 0.
    static func parseCluster(_ text: String) -> Result<RedisEndpoint, Invalid> {
        let tls = text.hasPrefix("rediss+")
        var rest = Substring(text.dropFirst(tls ? "rediss+cluster://".count : "redis+cluster://".count))
        var endpoint = RedisEndpoint(host: "", tls: tls)
        endpoint.takeCredentials(from: &rest)
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            guard db.isEmpty || db == "0" else {
                return .failure(Invalid("\"\(text)\" selects database \(db): a Redis Cluster has only database 0"))
            }
            rest = rest[..<slash]
        }
        switch parseNodes(rest, of: "cluster node", in: text) {
        case .success(let nodes):
            endpoint.cluster = nodes
            endpoint.host = nodes[0].host
            endpoint.port = nodes[0].port
            return .success(endpoint)
        case .failure(let invalid):
            return .failure(invalid)
        }
    }

    /// `h1:p1,h2:p2`: at least one, each with its port.
    private static func parseNodes(_ list: Substring, of what: String, in text: String) -> Result<[Node], Invalid> {
        var nodes: [Node] = []
        for node in list.split(separator: ",") {
            guard let address = ListenAddress.parse(String(node)) else {
                return .failure(Invalid("\"\(node)\" is not a \(what) host:port"))
            }
            nodes.append(Node(host: address.host, port: address.port))
        }
        guard !nodes.isEmpty else { return .failure(Invalid("\"\(text)\" names no \(what)")) }
        return .success(nodes)
    }
}

extension RedisEndpoint {
    /// `[user:]password@` at the start of `rest`, removed from it; a password alone
    /// (`redis://secret@host`) is a password.
    mutating func takeCredentials(from rest: inout Substring) {
        guard let at = rest.lastIndex(of: "@") else { return }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        if let colon = credentials.firstIndex(of: ":") {
            let user = percentDecoded(credentials[..<colon])
            self.user = user.isEmpty ? nil : user
            password = percentDecoded(credentials[credentials.index(after: colon)...])
        } else {
            password = percentDecoded(credentials)
        }
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
