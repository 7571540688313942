import NIOCore
import SidecacheCore

extension AdminAPI {
    /// `POST /purge` with `{"path"}`, `{"route"}`, `{"tag"}` or `{"all": true}`, and
    /// optionally `"dryRun": true` and `"mode": "stale"` (a soft purge). Answers the
    /// scopes and how many L1 entries they covered; the purge is in the ledger and in
    /// Redis (or journaled) before the answer.
    func purge(_ request: AdminRequest, on loop: any EventLoop) async -> AdminResponse {
        guard let body = request.jsonObject else {
            return .error(.badRequest, "bad_request", #"the body must be a JSON object: {"path"}, {"route"}, {"tag"} or {"all": true}"#)
        }
        let scopes: [PurgeScope]
        switch Self.scopes(body, routes: backend.configInForce.config.routes.routes.map(\.name)) {
        case .success(let s): scopes = s
        case .failure(let problem): return .error(.badRequest, "bad_request", problem.message)
        }
        let dryRun: Bool
        switch body["dryRun"] {
        case nil: dryRun = false
        case .bool(let b)?: dryRun = b
        default: return .error(.badRequest, "bad_request", "dryRun must be true or false")
        }
        let mode: PurgeMode
        switch body["mode"] {
        case nil: mode = .remove
        case .string(let text)? where PurgeMode(rawValue: text) != nil: mode = PurgeMode(rawValue: text)!
        default: return .error(.badRequest, "bad_request", #"mode must be "remove" or "stale""#)
        }
        let covered = backend.coveredEntries(scopes)
        if !dryRun {
            await backend.purge(scopes, mode: mode, caller: request.remote, on: loop)
            logger.notice("admin purge", metadata: ["scopes": "\(scopes.map(\.description).joined(separator: ", "))",
                                                     "l1Entries": "\(covered)", "caller": "\(request.remote)"])
        }
        return .json(.object([("dryRun", .bool(dryRun))] + (mode == .stale ? [("mode", .string("stale"))] : []) + [
            ("scopes", .array(scopes.map { .string($0.description) })),
            ("l1Entries", .int(covered)),
        ]))
    }

    struct Problem: Error {
        var message: String
    }

    /// The scopes a purge body names: exactly one of path, route, tag, all.
    static func scopes(_ body: [String: JSONValue], routes: [String]) -> Result<[PurgeScope], Problem> {
        let named = ["path", "route", "tag", "all"].filter { body[$0] != nil }
        if let unknown = body.keys.first(where: { !["path", "route", "tag", "all", "dryRun", "mode"].contains($0) }) {
            return .failure(Problem(message: "unknown member \"\(unknown)\""))
        }
        guard named.count == 1 else {
            return .failure(Problem(message: #"name exactly one of "path", "route", "tag" or "all""#))
        }
        switch (named[0], body[named[0]]!) {
        case ("path", .string(let given)):
            guard given.hasPrefix("/") else { return .failure(Problem(message: "path must start with /")) }
            // Entries belong to their path whatever their query: a query names one of
            // them, and purging all is more than asked, never less (as `/refresh` does).
            let path = given.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if path.hasSuffix("/*") { return .success([.subtree(String(path.dropLast()))]) }
            return .success([.path(String(path))])
        case ("route", .string(let route)):
            guard routes.contains(route) else {
                return .failure(Problem(message: "no route named \"\(route)\" (routes: \(routes.joined(separator: ", ")))"))
            }
            return .success([.route(route)])
        case ("tag", .string(let tag)) where !tag.isEmpty:
            return .success([.tag(tag)])
        case ("all", .bool(true)):
            return .success([.all])
        case ("all", _):
            return .failure(Problem(message: "all must be true"))
        case (let key, _):
            return .failure(Problem(message: "\(key) must be a non-empty string"))
        }
    }
}
