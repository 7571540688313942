import Logging
import NIOCore
import NIOHTTP1
import SidecacheCore

extension AdminAPI {
    /// `POST /refresh {"path": "/api/users/42"}` (optionally `"host"`, default the
    /// upstream's authority): fetch from the upstream now, bypassing the cache, store and
    /// return it. Limited per cache key by `admin.refreshLimit` (429 + `Retry-After`);
    /// every call is logged with the caller's address.
    func refresh(_ request: AdminRequest, on loop: any EventLoop) async -> AdminResponse {
        guard let body = request.jsonObject, case .string(let path)? = body["path"] else {
            return .error(.badRequest, "bad_request", #"the body must be {"path": "/..."}"#)
        }
        let config = backend.configInForce.config
        let host: String
        switch body["host"] {
        case nil: host = config.upstream.authority
        // It goes upstream as the Host line: CR or LF in it would add header lines of its own.
        case .string(let h)? where !h.isEmpty && isSafeFieldValue(h): host = h
        default: return .error(.badRequest, "bad_request", "host must be a non-empty string without CR, LF or NUL")
        }
        guard let target = RequestTarget(path), target.isCacheSafe, let route = config.routes.route(forGET: target.path) else {
            return .error(.badRequest, "bad_request", "\(path) matches no cache route")
        }
        let key = CacheKeyBuilder.key(route: route, host: host, target: target, headers: HeaderList(), identity: nil)
        let decision = await limiter.admit(key: key.description, backend: backend, on: loop)
        var log: Logger.Metadata = ["path": "\(path)", "host": "\(host)", "route": "\(route.name)", "caller": "\(request.remote)"]
        if case .limited(let retryAfter) = decision {
            log["outcome"] = "rate_limited"
            logger.notice("admin refresh", metadata: log)
            return .error(.tooManyRequests, "rate_limited",
                          "refresh limit \(limiter.limit) reached for this key; retry in \(retryAfter)s",
                          headers: [("Retry-After", String(retryAfter))])
        }
        do {
            let answer = AdminResponse(refreshed: try await backend.refresh(path: path, host: host, on: loop))
            log["outcome"] = "\(answer.status.code)"
            logger.notice("admin refresh", metadata: log)
            return answer
        } catch {
            log["outcome"] = "failed"
            log["error"] = "\(error)"
            logger.warning("admin refresh", metadata: log)
            return .error(.badGateway, "upstream_unavailable", "\(error)")
        }
    }
}
