import Logging
import NIOCore
import NIOHTTP1
import SidecacheConfig
import SidecacheCore

extension AdminAPI {
    /// `POST /refresh {"path": "/api/users/42", "host"?, "headers"?}`: purge every cached
    /// variant of the path (all hosts, queries, identities, claims, header variants), then
    /// fetch the variant that `host` (default: the top-level `host`, else the upstream's
    /// authority) and `headers` name, store it and return it. Limited per cache key by
    /// `admin.refreshLimit` (429 + `Retry-After`); an answer that is not 2xx/3xx, or a
    /// failed fetch, is returned as is and does not count. Every call is logged with the
    /// caller's address (never the headers' values).
    func refresh(_ request: AdminRequest, on loop: any EventLoop) async -> AdminResponse {
        guard let body = request.jsonObject, case .string(let path)? = body["path"] else {
            return .error(.badRequest, "bad_request", #"the body must be {"path": "/..."}"#)
        }
        // As /purge: a misspelt "header" or "hosts" would refresh another variant than meant.
        if let unknown = body.keys.sorted().first(where: { !["path", "host", "headers"].contains($0) }) {
            return .error(.badRequest, "bad_request", "unknown member \"\(unknown)\"")
        }
        // A request target's bytes only (RFC 3986): a space or a control byte was purged
        // for, then refused by curl as a 502.
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .error(.badRequest, "bad_request", "path must be a request target: no spaces, controls or raw non-ASCII bytes")
        }
        let config = backend.configInForce.config
        let host: String
        switch body["host"] {
        case nil: host = config.defaultHost
        // It goes upstream as the Host line, and is keyed as a client's Host is.
        case .string(let h)? where !h.isEmpty && isHostFieldValue(h): host = h
        default: return .error(.badRequest, "bad_request", "host must be a host and port")
        }
        guard let headers = Self.refreshHeaders(body["headers"]) else {
            return .error(.badRequest, "bad_request", #"headers must be {"Name": "value"}: header names, values without CR, LF or NUL, no Host, hop-by-hop (Connection...) or framing fields"#)
        }
        guard let target = RequestTarget(path), target.isCacheSafe, let route = config.routes.route(forGET: target.path) else {
            return .error(.badRequest, "bad_request", "\(path) matches no cache route")
        }
        let key = Self.limitKey(route: route, host: host, target: target, headers: HeaderList(headers.map { ($0.name, $0.value) }))
        let decision = await limiter.admit(key: key, backend: backend, on: loop)
        // The path without its query, as the access log has it: a query may carry a credential.
        var log: Logger.Metadata = ["path": "\(target.path)", "host": "\(host)", "route": "\(route.name)", "caller": "\(request.remote)"]
        if !headers.isEmpty { log["headers"] = "\(headers.map(\.name).joined(separator: ","))" }
        if case .limited(let retryAfter) = decision {
            log["outcome"] = "rate_limited"
            logger.notice("admin refresh", metadata: log)
            return .error(.tooManyRequests, "rate_limited",
                          "refresh limit \(limiter.limit) reached for this key; retry in \(retryAfter)s",
                          headers: [("Retry-After", String(retryAfter))])
        }
        // Every variant first: clients sending another Host or identity never keep the old answer.
        await backend.purge([.path(String(target.path))], mode: .remove, caller: "refresh from \(request.remote)", on: loop)
        do {
            let answer = AdminResponse(refreshed: try await backend.refresh(path: path, host: host, headers: headers, on: loop))
            log["outcome"] = "\(answer.status.code)"
            logger.notice("admin refresh", metadata: log)
            if answer.status.code >= 400 { await limiter.refund(key: key, backend: backend, on: loop) }
            return answer
        } catch {
            log["outcome"] = "failed"
            log["error"] = "\(error)"
            logger.warning("admin refresh", metadata: log)
            await limiter.refund(key: key, backend: backend, on: loop)
            return .error(.badGateway, "upstream_unavailable", "\(error)")
        }
    }

    /// `headers` of a refresh: nil when malformed.
    static func refreshHeaders(_ value: JSONValue?) -> [HeaderLine]? {
        guard let value else { return [] }
        guard case .object(let members) = value else { return nil }
        var lines: [HeaderLine] = []
        for (name, v) in members.sorted(by: { $0.key < $1.key }) {
            guard case .string(let text) = v, isOperatorRequestFieldName(name), isSafeFieldValue(text) else { return nil }
            lines.append(HeaderLine(name: name, value: text))
        }
        return lines
    }

    /// What one refresh limit counts: the cache key the refresh fills, with the
    /// credential (identity value, or the token of a claims route) in place of what it
    /// verifies to — per credential, which is at least as narrow — and the path in the
    /// spelling purges use: each refresh purges every spelling, so `/x/%61bc` must not
    /// be a quota of its own beside `/x/abc`.
    static func limitKey(route: Route, host: String, target: RequestTarget, headers: HeaderList) -> String {
        let target = RequestTarget(path: PathSpelling.exact.canonical(target.path), query: target.query)
        var identity: Substring?
        if let source = route.identity ?? route.claims?.from, case .one(let value) = RequestClassifier.identityValue(source, headers) {
            identity = value
        }
        return CacheKeyBuilder.key(route: route, host: host, target: target, headers: headers, identity: identity).description
    }
}
