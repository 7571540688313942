import NIOHTTP1

/// Refuses what a browser sends on another site's behalf. A POST of `{"all":true}` as
/// `text/plain` needs no CORS preflight, so without this any page the operator opened
/// could purge everything through a loopback listener that no token guards, and a page
/// whose name was rebound to 127.0.0.1 could read `/stats` as its own origin. curl,
/// scripts, probes and reverse proxies relaying them send neither `Origin` nor
/// `Sec-Fetch-Site`, and are not affected; nor is a browser opening a page from a link.
enum BrowserGuard {
    /// Why the request is refused, or nil when it may go on. `changes`: the call changes
    /// something (a POST): a cross-site one is refused, while a cross-site read is a
    /// link followed, whose answer the other site cannot read. `tokenless`: no token
    /// guards the API, so a browser's request must name the machine in `Host` (an IP
    /// address or `localhost`), which a rebound name never does.
    static func refusal(_ headers: HTTPHeaders, changes: Bool, tokenless: Bool) -> String? {
        let site = headers.first(name: "sec-fetch-site")?.lowercased()
        let origin = headers.first(name: "origin")
        let host = headers.first(name: "host")
        if changes {
            if site == "cross-site" || site == "same-site" { return "a browser request from another site" }
            if let origin, host.map({ !sameAuthority(origin: origin, host: $0) }) ?? true {
                return "a browser request from another origin (\(origin))"
            }
        }
        if tokenless, site != nil || origin != nil, let host, !namesThisMachine(host) {
            return "a browser request for Host \(host), not an IP address or localhost (a token lets other names in)"
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
