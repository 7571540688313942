/// Every key proxy.json may hold, by the object that holds it. The loader accepts these
/// and reports any other as unknown; a test compares them with the keys of
/// deploy/proxy.schema.json, so the schema editors see and the loader cannot drift apart.
enum ConfigKeys {
    static let top = ["$schema", "listen", "upstream", "store", "defaults", "routes", "purge", "warm", "admin", "limits",
                      "threads", "log", "auth", "host"]
    static let auth = ["jwt"]
    static let jwt = ["from", "secret", "jwks", "issuer", "audience", "leeway"]
    static let store = ["memory", "redis", "consistency", "prefix", "timeout", "outageGrace", "tls", "signingKey"]
    static let storeTLS = ["ca", "cert", "key", "serverName", "verify"]
    /// `defaults`; every route may set them too.
    static let policy = ["ttl", "staleWhileRevalidate", "staleIfError", "maxBodySize", "upstreamTimeout", "maxRequestBody", "compress", "verify"]
    static let route = ["name", "match", "key", "shared", "override", "paths", "tags"] + policy
    static let routeKey = ["query", "headers", "identity", "claims", "body"]
    static let routePaths = ["caseInsensitive", "ignoreTrailingSlash", "ignoreMatrix"]
    static let purgeRule = ["on", "paths", "routes", "tags", "mode"]
    static let warmTarget = ["path", "every", "host", "headers"]
    static let admin = ["listen", "token", "refreshLimit"]
    static let limits = ["headerBytes", "urlBytes", "connections", "idleTimeout", "headerTimeout", "bodyMemory"]
    static let log = ["level", "format", "access"]
}
