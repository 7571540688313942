import NIOHTTP1
import SidecacheCore

/// Which headers cross the proxy, each way.
enum ForwardHeaders {
    /// Set by the proxy; client values are replaced (X-Forwarded-For is appended to).
    static let proxyOwned: HeaderNameSet = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host", "content-length", "expect"]
    /// Stripped from fills: a fill fetches the full answer for everyone, not one client's
    /// conditional or partial view (a range is cut from the stored answer).
    static let conditionals: HeaderNameSet = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"]
    /// Stripped from fills: fields that frameworks read as the request's URL, path, host,
    /// scheme or port (Symfony, Spring, Rails, IIS rewrite, Envoy, Traefik, Tornado's
    /// `X-Scheme`, gunicorn's `X-Forwarded-Protocol`, the WSGI `X-Script-Name` prefix,
    /// the CDNs' own scheme fields...), or as the client's address (nginx's real-ip
    /// module, CDNs). None is part of the key, so one client's value would otherwise be
    /// stored for everyone (the classic unkeyed-input poisoning: `X-Script-Name:
    /// //evil.example` made a stored redirect point there). Requests that do not use the
    /// cache keep them.
    static let unkeyedOverrides: HeaderNameSet = [
        "x-original-url", "x-rewrite-url", "x-waws-unencoded-url", "x-host", "x-http-host-override", "x-original-host",
        "x-forwarded-server", "x-forwarded-scheme", "x-forwarded-port", "x-forwarded-prefix",
        "x-forwarded-ssl", "x-forwarded-protocol", "x-scheme", "x-url-scheme", "x-script-name", "front-end-https",
        "x-arr-ssl", "cloudfront-forwarded-proto", "cf-visitor", "fastly-ssl", "forwarded",
        "x-forwarded-uri", "x-original-uri", "x-forwarded-path", "x-envoy-original-path",
        "x-real-ip", "true-client-ip", "x-client-ip", "client-ip", "x-cluster-client-ip",
        "cf-connecting-ip", "fastly-client-ip",
    ]

    /// Upstream answer fields the proxy never passes on: it frames its own answers, sets
    /// its own X-Cache, and acts on Sidecache-Purge itself.
    static let notForwardedBack: HeaderNameSet = ["content-length", "x-cache", UpstreamPurge.field]

    /// `headers` asking for `coding` only: fills ask for what they can serve everyone.
    /// Changed in place: the request's own list, no copy.
    static func accept(_ coding: String, in headers: inout [(name: String, value: String)]) {
        headers.removeAll { $0.name.equalsIgnoringASCIICase("accept-encoding") }
        headers.append((name: "Accept-Encoding", value: coding))
    }

    /// The header lines sent upstream for a client request.
    static func request(_ headers: HTTPHeaders, clientAddress: String?, fallbackHost: String,
                        forFill: Bool, requestID: () -> String) -> [(name: String, value: String)] {
        let listed = headers.contains(name: "connection") ? ConnectionOptions(headers["connection"]) : .none
        var out: [(name: String, value: String)] = []
        out.reserveCapacity(headers.count + 5)   // Host and the four added below
        let host = headers.first(name: "host") ?? fallbackHost
        out.append((name: "Host", value: host))
        var forwardedFor: String?
        var hasRequestID = false
        for (name, value) in headers {
            if HopByHop.contains(name, listed: listed) || !isSafeFieldValue(value) { continue }
            if name.equalsIgnoringASCIICase("x-forwarded-for") {
                forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                continue
            }
            if proxyOwned.contains(name) || (forFill && (conditionals.contains(name) || unkeyedOverrides.contains(name))) { continue }
            if name.equalsIgnoringASCIICase("x-request-id") {
                if value.isEmpty { continue }   // no id to keep: one is made (the hop-by-hop audit's)
                hasRequestID = true
            }
            out.append((name: name, value: value))
        }
        if let clientAddress {
            out.append((name: "X-Forwarded-For", value: forwardedFor.map { "\($0), \(clientAddress)" } ?? clientAddress))
        }
        out.append((name: "X-Forwarded-Proto", value: "http"))
        out.append((name: "X-Forwarded-Host", value: host))
        if !hasRequestID { out.append((name: "X-Request-Id", value: requestID())) }
        return out
    }

    /// The upstream answer's header lines as the client may see them: no hop-by-hop,
    /// no framing (the proxy frames its own answers), no unsafe values, no stale markers.
    /// `forStorage` also drops `Age`, which a hit recomputes. `received`: when the answer
    /// came, its `Date` if it has none.
    static func response(_ lines: [(name: String, value: String)], forStorage: Bool,
                         received: Timestamp) -> [(name: String, value: String)] {
        var forwarded: [(name: String, value: String)] = []
        forwarded.reserveCapacity(lines.count + 1)
        forEachResponseLine(lines, forStorage: forStorage, dateIfMissing: { HTTPDate.format(received) }) { forwarded.append($0) }
        return forwarded
    }

    /// The same lines handed to `body` one by one, in order: a streamed answer's head
    /// writes them straight into its buffer, without an array between.
    ///
    /// `dateIfMissing` (not for 1xx heads): a final answer without `Date` gets one, last.
    /// RFC 9110 §6.6.1: a recipient with a clock forwarding or caching an answer that has
    /// none must add it, and `If-Range` by date holds only against an entry whose `Date`
    /// is a second past its `Last-Modified` (§8.8.2.2).
    static func forEachResponseLine(_ lines: [(name: String, value: String)], forStorage: Bool,
                                    dateIfMissing: () -> String? = { nil }, _ body: ((name: String, value: String)) -> Void) {
        // `Vary` stays whatever `Connection` says: the proxy writes it to name what its
        // keys read (`KeyVary`), and an upstream's `Connection: vary` had a cache in front
        // give Alice's answer to Bob (the hop-by-hop audit's). What the upstream's own
        // `Vary` said was judged before and is part of the key; naming it only splits more.
        let listed = ConnectionOptions(lines: lines, except: "vary")
        var dated = false
        for i in lines.indices {
            let name = lines[i].name
            guard !HopByHop.contains(name, listed: listed), !notForwardedBack.contains(name),
                  !(forStorage && name.equalsIgnoringASCIICase("age")), isSafeFieldValue(lines[i].value), !name.isEmpty
            else { continue }
            if !dated && name.utf8.count == 4 && name.equalsIgnoringASCIICase("date") { dated = true }
            body(lines[i])
        }
        if !dated, let date = dateIfMissing() { body((name: "Date", value: date)) }
    }

    /// 16 hex digits for requests that arrive without an `X-Request-Id` (`RequestIDs`).
    static func newRequestID() -> String {
        RequestIDs.current.next().paddedHex
    }
}
