import NIOCore
import SidecacheAuth
import SidecacheCore

/// `key.claims` routes: the token is verified (or known from an earlier verification)
/// before the key exists; a token that does not verify is forwarded and nothing of its
/// answer is cached (`detail=unverified`).
extension Exchange {
    func verifyThenUseCache(_ route: Route, token: Substring) {
        guard let verifier = settings.verifier else {
            unverified(route, why: .unknownKey)
            return
        }
        let now = engine.clock.now()
        if let claims = verifier.knownClaims(token, now: now) {
            useClaims(claims, route)
            return
        }
        let me = NIOLoopBound(self, eventLoop: connection.eventLoop)
        let checked = connection.eventLoop.makePromise(of: Result<[String: String], TokenRefusal>.self)
        checked.completeWithTask { await verifier.verify(token, now: now) }
        checked.futureResult.whenSuccess { result in
            let exchange = me.value
            guard !exchange.finished else { return }   // the client left meanwhile
            switch result {
            case .success(let claims): exchange.useClaims(claims, route)
            case .failure(let refusal): exchange.unverified(route, why: refusal)
            }
        }
    }

    private func useClaims(_ claims: [String: String], _ route: Route) {
        guard let target, let fingerprint = route.claims?.fingerprint(claims) else {
            unverified(route, why: nil)   // a listed claim is missing
            return
        }
        useCache(route, target, identity: fingerprint[...])
    }

    /// Logged with the reason only: never the token, never a claim value.
    private func unverified(_ route: Route, why refusal: TokenRefusal?) {
        engine.logger.debug("token not verified: passed through uncached",
                            metadata: ["route": "\(route.name)", "why": "\(refusal?.rawValue ?? "missing-claim")"])
        engine.metrics.bypass(route: route.name, reason: .unverified)
        run(machine.forward(marker: ForwardMarker.bypass(.unverified).cacheStatus))
    }
}
