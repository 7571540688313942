/// Host and port of an absolute URL, for error texts such as
/// "connect to 127.0.0.1:3000 refused". Not a URL parser: it only has to name the
/// server curl was asked to reach, the same way the operator wrote it in proxy.json.
struct URLAuthority: Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// nil when `url` has no `scheme://host`.
    init?(url: String) {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        let scheme = url[..<colon].lowercased()
        let rest = url[url.index(colon, offsetBy: 3)...]
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") {
            authority = authority[authority.index(after: at)...]
        }
        // "[::1]:3000": the port follows the bracket, not the last colon inside it.
        let hostEnd = authority.hasPrefix("[") ? authority.firstIndex(of: "]").map(authority.index(after:)) : nil
        let portColon = authority[(hostEnd ?? authority.startIndex)...].lastIndex(of: ":")
        let host = authority[..<(portColon ?? authority.endIndex)]
        guard !host.isEmpty else { return nil }
        self.host = String(host)
        if let portColon, let port = Int(authority[authority.index(after: portColon)...]) {
            self.port = port
        } else {
            self.port = scheme == "https" ? 443 : 80
        }
    }

    var description: String { "\(host):\(port)" }
}
