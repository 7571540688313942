import NIOCore
import SidecacheCore
import SidecacheUpstream

/// The purge a mutation runs once the upstream has answered it (or may have applied it).
extension Exchange {
    /// DESIGN: every purge target of a successful mutation is purged before the client
    /// sees any of the answer; §4.4 invalidation rides along.
    func purgeThenAnswer(_ h: UpstreamResponseHead) {
        let answer: (Exchange) -> Void = { exchange in
            // Its client left while the upstream worked: the purges were all it waited for.
            exchange.run(exchange.clientLeft ? exchange.machine.clientGone() : exchange.machine.purged())
            exchange.orphanSettled()
        }
        guard PurgePlan.purges(status: h.status) else { return answer(self) }
        purge(status: h.status, response: HeaderList(h.headers), then: answer)
    }

    /// A mutation forwarded whose answer's head has not come: its purges have not run.
    var mutationAwaitsHead: Bool { machine.forwardAwaitsHead && !Invalidation.safeMethods.contains(method) }

    /// A mutation whose answer never comes though the upstream had it (a timeout, a
    /// connection closed or answered wrong mid-request, the proxy shutting down while
    /// the upstream works on it): it may have been applied all the same, so what a
    /// success would purge is purged. In doubt a purge costs a miss; a missed one
    /// serves the old data until its ttl. Only once curl sent the request: not on a
    /// connect that failed or timed out or a TLS handshake refused (an unreachable
    /// upstream would purge what stale-if-error serves). A mutation's transfer is
    /// cancelled by nothing but the shutdown (its client leaving does not: `clientGone`).
    func mutationInDoubt(after failure: UpstreamFailure) -> Bool {
        mutationAwaitsHead && failure.requestSent
    }

    func purgeInDoubt(then done: @escaping (Exchange) -> Void) {
        purge(status: 200, response: HeaderList([]), then: done)
    }

    /// Runs the purges of this request (once), then `done`, on this exchange's loop.
    private func purge(status: Int, response: HeaderList, then done: @escaping (Exchange) -> Void) {
        guard !purgeStarted, let target, !Invalidation.safeMethods.contains(method) else {
            done(self)
            return
        }
        purgeStarted = true
        var stale: [PurgeScope] = []
        var scopes = Invalidation.scopes(method: method, status: status, path: target.path,
                                         host: head.headers.first(name: "host"), response: response)
        let declared = UpstreamPurge.scopes(response.all(UpstreamPurge.field), routes: settings.config.routes)
        scopes += declared.scopes
        if !declared.skipped.isEmpty {
            engine.logger.warning("Sidecache-Purge targets not understood, skipped",
                                  metadata: ["targets": "\(declared.skipped.joined(separator: ", "))", "request": "\(method) \(target.path)"])
        }
        let spelled = settings.config.routes.ruleSpelling(of: target.path)
        let plan = PurgePlan(method: method, overrides: { self.methodOverrides(target, among: $0) }, path: spelled.path,
                             caseInsensitive: spelled.caseInsensitive, rules: settings.config.purge)
        if !plan.isEmpty {
            let paths = plan.bodyPaths
            let json = paths.isEmpty ? nil : body.flatMap { b in b.withUnsafeReadableBytes { JSONMembers.pruned($0, to: paths) } }
            let ruled = plan.scopes(query: target.query, headers: head.headers, body: json, routes: settings.config.routes)
            scopes += ruled.remove
            stale = ruled.stale
            for w in ruled.widened {
                engine.logger.warning("purge target widened: a path's value missing, empty, given more than once or containing / (to its subtree), a tag's missing or empty (to the routes whose tags could carry it)",
                                      metadata: ["template": "\(w)", "request": "\(method) \(target.path)"])
            }
            for t in ruled.skippedTags {
                engine.logger.warning("purge tag skipped: its value holds a space or comma, is given more than 64 ways, or is missing and no route's tags could carry it",
                                      metadata: ["template": "\(t)", "request": "\(method) \(target.path)"])
            }
        }
        switch engine.purge(scopes, stale: stale, reason: "\(method) \(target.path)", source: .mutation, on: connection.eventLoop) {
        case .now:
            done(self)
        case .later(let shared):
            purgeRunning = true
            let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
            shared.whenComplete { _ in
                me.value.purgeRunning = false
                done(me.value)
            }
        }
    }

    /// The `candidates` this mutation asks the upstream to take it as (`MethodOverride`).
    private func methodOverrides(_ target: RequestTarget, among candidates: [String]) -> [String] {
        let type = head.headers.first(name: "content-type")
        guard let body else {
            return MethodOverride.methods(headers: head.headers, query: target.query, body: nil, contentType: nil, among: candidates)
        }
        return body.withUnsafeReadableBytes {
            MethodOverride.methods(headers: head.headers, query: target.query, body: $0, contentType: type, among: candidates)
        }
    }
}
