#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SidecacheCore

extension ConfigLoader {
    /// `auth.jwt`. The JWK Set file is read here, so a reload (SIGHUP) re-reads it.
    static func jwtConfig(_ node: Node?) -> JWTConfig? {
        guard let node, let auth = node.object(allowing: ConfigKeys.auth) else { return nil }
        guard let jwtNode = auth["jwt"] else {
            node.report("auth needs \"jwt\" (how tokens are verified), or leave auth out")
            return nil
        }
        guard let f = jwtNode.object(allowing: ConfigKeys.jwt) else { return nil }
        let before = node.reader.problems.count
        var jwt = JWTConfig()
        if let n = f["from"], let text = n.string() {
            if let source = identitySource(text, n) { jwt.from = source }
        }
        if let n = f["secret"], let secret = n.string(), !secret.isEmpty {
            // HS256 needs a key as long as its hash: shorter secrets are guessable offline.
            if secret.utf8.count < JWTConfig.minimumSecretBytes {
                n.report("too short: an HMAC secret needs at least \(JWTConfig.minimumSecretBytes) bytes (HS384 48, HS512 64)")
            } else {
                jwt.secret = secret
            }
        }
        if let n = f["jwks"], let path = n.string() {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                if case .object(let set)? = JSONValue.parse(data), case .array(let keys)? = set["keys"], !keys.isEmpty {
                    jwt.jwks = JWTConfig.KeySet(path: path, json: data)
                } else {
                    n.report("\(path) is not a JWK Set (a JSON object with a non-empty \"keys\" array)")
                }
            } catch {
                n.report("cannot read \(path) (\(error))")
            }
        }
        if jwt.secret == nil && jwt.jwks == nil && node.reader.problems.count == before {
            jwtNode.report("needs \"secret\" (HS256/384/512) or \"jwks\" (RS*, PS*, ES*, EdDSA), or both")
        }
        if let n = f["issuer"], let v = n.string() { jwt.issuer = v }
        if let n = f["audience"], let v = n.string() { jwt.audience = v }
        if let n = f["leeway"], let v = n.duration() { jwt.leeway = v }
        return node.reader.problems.count == before ? jwt : nil
    }

    /// A header name, or `cookie:NAME`.
    static func identitySource(_ text: String, _ n: Node) -> IdentitySource? {
        if text.lowercased().hasPrefix("cookie:") {
            let name = String(text.dropFirst(7))
            if name.isEmpty { n.report("cookie: needs a cookie name, e.g. \"cookie:session\"") } else { return .cookie(name) }
        } else if isRequestFieldName(text) {
            return .header(text)
        } else if isFieldName(text) {
            n.report(notARequestFieldName(text))
        } else {
            n.report("\"\(text)\" is not a header name or cookie:NAME")
        }
        return nil
    }
}
