import NIOHTTP1

/// Refuses what a browser sends on another site's behalf. A POST of `{"all":true}` as
/// `text/plain` needs no CORS preflight, so without this any page the operator opened
/// could purge everything through a loopback listener that no token guards, and a page
/// whose name was rebound to 127.0.0.1 could read `/stats` as its own origin. curl,
/// scripts and probes send neither `Origin` nor `Sec-Fetch-Site`, and are not affected.
enum BrowserGuard {
    /// Why the request is refused, or nil when it may go on. `tokenless`: no token
    /// guards the API, so the `Host` must name the machine (an IP address or
    /// `localhost`), which a rebound name never does.
    static func refusal(_ headers: HTTPHeaders, tokenless: Bool) -> String? {
        if let site = headers.first(name: "sec-fetch-site")?.lowercased(), site == "cross-site" || site == "same-site" {
            return "a browser request from another site"
        }
        let host = headers.first(name: "host")
        if let origin = headers.first(name: "origin"), host.map({ !sameAuthority(origin: origin, host: $0) }) ?? true {
            return "a browser request from another origin (\(origin))"
        }
        if tokenless, let host, !namesThisMachine(host) {
            return "Host \(host) is not an IP address or localhost (a token lets other names in)"
        }
        return nil
    }

    /// `Origin` is `scheme://authority`; "null" and anything else matches no Host.
    private static func sameAuthority(origin: String, host: String) -> Bool {
        for scheme in ["http://", "https://"] where origin.count > scheme.count && origin.prefix(scheme.count).lowercased() == scheme {
            return origin.dropFirst(scheme.count).lowercased() == host.lowercased()
        }
        return false
    }

    /// `localhost`, an IPv4 address or a bracketed IPv6 one, with or without a port.
    static func namesThisMachine(_ host: String) -> Bool {
        if host.hasPrefix("[") { return true }
        let name = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return name.lowercased() == "localhost"
            || (!name.isEmpty && name.utf8.allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: ".") })
    }
}
