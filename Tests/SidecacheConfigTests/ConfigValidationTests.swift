import Testing
@testable import SidecacheConfig

@Suite struct ConfigValidationTests {
    @Test func everyProblemReportedAtOnceWithItsPath() {
        let found = problems(#"""
        {
          "listen": "nope",
          "upstream": "ftp://x",
          "store": {"memory": "lots", "consistency": "eventual"},
          "routes": [
            {"name": "a", "match": "GET /a"},
            {"name": "b", "match": "GET /b"},
            {"name": "c", "match": "GET /c", "ttl": "5 minutes"}
          ],
          "threads": 0,
          "log": {"level": "loud"}
        }
        """#)
        #expect(Set(found.map(\.path)) == ["listen", "upstream", "store.memory", "store.consistency", "routes[2].ttl", "threads", "log.level"])
        #expect(found.map(\.description).contains(#"routes[2].ttl: "5 minutes" is not a duration (use 300s, 5m, 1h)"#))
        #expect(problem(at: "store.memory", in: found) == #""lots" is not a size (use 0, 512KiB, 8MiB, 1GiB)"#)
        #expect(problem(at: "listen", in: found)?.contains("host:port") == true)
        #expect(problem(at: "upstream", in: found)?.contains("http://") == true)
        #expect(problem(at: "threads", in: found) == "must be at least 1")
    }

    /// A Redis URL that does not parse is quoted with its password masked: the message
    /// goes to stderr, `sidecache check` and a rejected reload's log lines. The whole URL,
    /// password and all, was quoted.
    @Test(arguments: [
        "redis://default:hunter2hunter2@cache:6379?ssl=true", "http://u:hunter2hunter2@cache:6379",
        "redis+sentinel://hunter2hunter2@s1:26379", "redis+cluster://u:hunter2hunter2@h1:7000/3", "redis+x://:hunter2hunter2@h",
    ])
    func aRedisURLsPasswordIsNeverQuoted(url: String) {
        for found in [problems(config(#""store": {"redis": "\#(url)"}"#)), problems(minimal, env: ["REDIS_URL": url])] {
            let message = problem(at: found.first?.path ?? "", in: found) ?? ""
            #expect(!message.isEmpty && !"\(found)".contains("hunter2hunter2"), "\(found)")
            #expect(message.contains("***@"), "\(message)")
        }
    }

    @Test func errorDescriptionListsAll() {
        let error = ConfigError(file: "proxy.json", problems: [ConfigProblem(path: "a", message: "x"), ConfigProblem(path: "", message: "y")])
        #expect(error.description == "proxy.json: 2 problems\n  a: x\n  y")
        #expect(ConfigError(problems: [ConfigProblem(path: "routes[0].ttl", message: "m")]).description == "routes[0].ttl: m")
    }

    @Test(arguments: [
        (#"{"upstream": "http://u:1", "listn": "x"}"#, "listn"),
        (config(#""store": {"memroy": "1MiB"}"#), "store.memroy"),
        (config(#""defaults": {"tll": "5s"}"#), "defaults.tll"),
        (config(#""defaults": {"shared": true}"#), "defaults.shared"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "tll": "5s"}]"#), "routes[0].tll"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"header": ["X"]}}]"#), "routes[0].key.header"),
        (config(#""purge": [{"on": "POST /a", "path": ["/a"], "paths": ["/a"]}]"#), "purge[0].path"),
        (config(#""routes": [{"name": "a", "match": "GET /a"}], "warm": [{"path": "/a", "every": "1m", "evry": "1m"}]"#), "warm[0].evry"),
        (config(#""admin": {"tokn": "x"}"#), "admin.tokn"),
        (config(#""limits": {"connectoins": 5}"#), "limits.connectoins"),
        (config(#""log": {"lvl": "info"}"#), "log.lvl"),
    ] as [(String, String)])
    func unknownKeys(json: String, path: String) {
        let found = problems(json)
        #expect(problem(at: path, in: found)?.hasPrefix("unknown key (expected one of: ") == true)
    }

    @Test func schemaKeyAccepted() throws {
        #expect(throws: Never.self) { try parse(config(#""$schema": "./sidecache.schema.json""#)) }
    }

    @Test(arguments: [
        (config(#""routes": [{"name": "a", "match": "GET /a"}, {"name": "a", "match": "GET /b"}]"#),
         "routes[1].name", #"duplicate route name "a""#),
        (config(#""routes": [{"name": "a b", "match": "GET /a"}]"#), "routes[0].name", "not a route name"),
        (config(#""routes": [{"name": "a", "match": "POST /a"}]"#), "routes[0].match", #"POST only with "key": {"body": true}"#),
        (config(#""routes": [{"name": "a", "match": "GET|POST /a"}]"#), "routes[0].match", #"POST only with "key": {"body": true}"#),
        (config(#""routes": [{"name": "a", "match": "PUT /a", "key": {"body": true}}]"#), "routes[0].match", "or POST with key.body; found PUT"),
        (config(#""routes": [{"name": "a", "match": "POST /a", "key": {"body": "yes"}}]"#), "routes[0].key.body", "expected true or false"),
        (config(#""routes": [{"name": "a", "match": "HEAD /a"}]"#), "routes[0].match", "a cache route matches GET"),
        (config(#""routes": [{"name": "a", "match": "GET a"}]"#), "routes[0].match", "starts with /"),
        (config(#""routes": [{"name": "a", "match": "get /a"}]"#), "routes[0].match", "not an HTTP method"),
        (config(#""routes": [{"name": "a"}]"#), "routes[0].match", "required"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "ttl": "origin", "override": true}]"#), "routes[0].override", "needs a duration ttl"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"query": 5}}]"#), "routes[0].key.query", #"must be "all", "none" or a list"#),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"headers": ["X Role"]}}]"#), "routes[0].key.headers[0]", "not a header name"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"identity": "cookie:"}}]"#), "routes[0].key.identity", "cookie name"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"headers": ["X_Role"]}}]"#), "routes[0].key.headers[0]", "header names with _ are dropped"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "key": {"identity": "X_Api_Key"}}]"#), "routes[0].key.identity", "header names with _ are dropped"),
        (config(#""purge": [{"on": "POST /a", "paths": ["/a/{header.X_Id}"]}]"#), "purge[0].paths[0]", "header names with _ are dropped"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "shared": "yes"}]"#), "routes[0].shared", "expected true or false, found a string"),
        (config(#""routes": {"name": "a"}"#), "routes", "expected an array, found an object"),
        (config(#""purge": [{"on": "GET /a", "paths": ["/a"]}]"#), "purge[0].on", "GET never purges"),
        (config(#""purge": [{"on": "POST|HEAD /a", "paths": ["/a"]}]"#), "purge[0].on", "HEAD never purges"),
        (config(#""purge": [{"on": "PUT /a/{id}", "paths": ["/a/{uid}"]}]"#), "purge[0].paths[0]", #"{uid} is not bound by "PUT /a/{id}""#),
        (config(#""purge": [{"on": "PUT /a/{id}", "paths": ["/a/{query.x"]}]"#), "purge[0].paths[0]", "not a placeholder"),
        (config(#""purge": [{"on": "POST /a", "routes": ["nope"]}]"#), "purge[0].routes[0]", #"no route is named "nope""#),
        (config(#""routes": [{"name": "a", "match": "GET /a", "tags": ["user:id"]}]"#), "routes[0].tags[0]", "a prefix then a JSON path"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "tags": ["user:$.items[0]"]}]"#), "routes[0].tags[0]", "not a path step"),
        (config(#""purge": [{"on": "PUT /a/{id}", "tags": ["user:{uid}"]}]"#), "purge[0].tags[0]", #"{uid} is not bound by "PUT /a/{id}""#),
        (config(#""purge": [{"on": "PUT /a/{id}", "tags": ["user {id}"]}]"#), "purge[0].tags[0]", "no spaces or commas"),
        (config(#""purge": [{"on": "PUT /a/{id}", "tags": ["user:{x.y}"]}]"#), "purge[0].tags[0]", "not a placeholder"),
        (config(#""purge": [{"on": "POST /a", "paths": ["/a"], "mode": "soft"}]"#), "purge[0].mode", #"must be "remove" or "stale""#),
        (config(#""purge": [{"on": "POST /a"}]"#), "purge[0]", #"needs "paths", "routes" or "tags""#),
        (config(#""purge": [{"paths": ["/a"]}]"#), "purge[0].on", "required"),
        (config(#""store": {"redis": "redis://cache:6380", "tls": {"verify": false}}"#), "store.tls", "rediss://"),
        (config(#""store": {"redis": "redis+cluster://a:7000,b:7001/2"}"#), "store.redis", "only database 0"),
        (config(#""store": {"redis": "redis+cluster://a:7000", "prefix": "{app}:"}"#), "store.prefix", "must not contain {"),
        (config(#""store": {"redis": "redis+cluster2://a:7000"}"#), "store.redis", "not a Redis URL"),
        (config(#""store": {"redis": "rediss://cache:6380", "tls": {"ca": "/nonexistent/ca.pem"}}"#), "store.tls.ca", "cannot read"),
        (config(#""store": {"redis": "rediss://cache:6380", "tls": {"cert": "/dev/null"}}"#), "store.tls", "cert and key"),
        (config(#""store": {"redis": "http://cache:6379"}"#), "store.redis", "not a redis:// or rediss:// URL"),
        (config(#""store": {"timeout": "0s"}"#), "store.timeout", "more than 0"),
        (config(#""defaults": {"verify": "2"}"#), "defaults.verify", "not a share of hits"),
        (config(#""defaults": {"verify": "101%"}"#), "defaults.verify", "not a share of hits"),
        (config(#""routes": [{"name": "a", "match": "GET /a", "verify": "-1%"}]"#), "routes[0].verify", "not a share of hits"),
        (config(#""store": {"signingKey": "0123456789abcdef0123456789abcdef"}"#), "store.signingKey", "needs store.redis"),
        (config(#""store": {"redis": "redis://cache:6379", "signingKey": "short"}"#), "store.signingKey", "at least 32 bytes"),
        (config(#""store": {"redis": "redis://cache:6379", "signingKey": "REPLACE-ME-with-a-long-random-signing-key"}"#),
         "store.signingKey", "placeholder"),
        (config(#""store": {"redis": "redis://:REPLACE-ME-with-a-long-random-password@cache:6379"}"#), "store.redis", "placeholder"),
        (config(#""store": {"redis": "redis://cache:6379", "signingKey": 42}"#), "store.signingKey", "expected a string"),
        (config(#""defaults": {"upstreamTimeout": "0s"}"#), "defaults.upstreamTimeout", "more than 0"),
        (config(#""admin": {"listen": "0.0.0.0:9090"}"#), "admin.listen", "loopback"),
        (config(#""admin": {"listen": "0.0.0.0:9090", "token": ""}"#), "admin.listen", "token"),
        (config(#""admin": {"refreshLimit": "often"}"#), "admin.refreshLimit", "not a rate"),
        (config(#""admin": {"refreshLimit": "1//1h"}"#), "admin.refreshLimit", "not a rate"),
        (config(#""routes": [{"name": "a", "match": "GET /a"}], "warm": [{"path": "/b", "every": "1m"}]"#), "warm[0].path", "matches no cache route"),
        (config(#""routes": [{"name": "a", "match": "GET /a"}], "warm": [{"path": "/a", "every": "500ms"}]"#), "warm[0].every", "at least 1s"),
        // A spelling its route folds into the plain path's entry: warmed, that spelling's
        // answer (a session's `;jsessionid=`) was stored for every client of the path.
        (config(#""routes": [{"name": "m", "match": "GET /m/*", "paths": {"ignoreMatrix": true}}], "warm": [{"path": "/m/a;jsessionid=B", "every": "1m"}]"#),
         "warm[0].path", "warm its plain spelling"),
        (config(#""routes": [{"name": "c", "match": "GET /c/*", "paths": {"caseInsensitive": true}}], "warm": [{"path": "/c/%61", "every": "1m"}]"#),
         "warm[0].path", "warm its plain spelling"),
        (config(#""routes": [{"name": "a", "match": "GET /a"}], "warm": [{"path": "/a"}]"#), "warm[0].every", "required"),
        // Below an upstream's base path every request that climbs out gets 400: a warm one every 30 s.
        (#"{"upstream": "http://127.0.0.1:3000/base", "routes": [{"name": "r", "match": "GET /r/*"}], "warm": [{"path": "/r/..%2f..%2fadmin", "every": "1h"}]}"#,
         "warm[0].path", "leave the upstream's base path"),
        (config(#""threads": 1.5"#), "threads", "expected a whole number, found a fraction"),
        (config(#""defaults": {"upstreamTimeout": true}"#), "defaults.upstreamTimeout", "expected a duration (300s, 5m, 1h) or a whole number of seconds, found a boolean"),
        (config(#""log": {"format": "xml"}"#), "log.format", #"must be "text" or "json""#),
        (config(#""limits": {"connections": 0}"#), "limits.connections", "at least 1"),
        (config(#""limits": {"connections": 9223372036854775808}"#), "limits.connections", "at most 999999999999999"),
        (config(#""limits": {"urlBytes": "0"}"#), "limits.urlBytes", "more than 0"),
        (config(#""limits": {"headerBytes": "0KiB"}"#), "limits.headerBytes", "more than 0"),
        (config(#""limits": {"idleTimeout": "0s"}"#), "limits.idleTimeout", "more than 0"),
        (config(#""limits": {"headerTimeout": 0}"#), "limits.headerTimeout", "more than 0"),
        (config(#""limits": {"bodyMemory": "0"}"#), "limits.bodyMemory", "more than 0"),
        (config(#""limits": {"bodyMemory": "lots"}"#), "limits.bodyMemory", "not a size"),
        (#"{"listen": "127.0.0.1:8080"}"#, "upstream", "required"),
        (#"{"upstream": "http://user:pw@api:80"}"#, "upstream", "credentials"),
        (#"{"upstream": "http://api/x?y=1"}"#, "upstream", "query"),
        (#"{"upstream": 3000}"#, "upstream", "expected a string, found a number"),
        (#"{"upstream": "http://127.0.0.1:3000", "upstream": "http://127.0.0.1:3001"}"#, "upstream", "is given twice in its object"),
        (#"{"upstream": "http://a:1", "listen": "127.0.0.1:8080", "admin": {"listen": "127.0.0.1:8080"}}"#, "admin.listen", "its own port"),
        (#"{"upstream": "http://a:1", "listen": "0.0.0.0:9090", "admin": {}}"#, "admin.listen", "its own port"),
        (#"{"upstream": "http://a:1", "routes": [{"name": "a", "match": "GET /a"}, {"name": "b", "match": "GET /b", "ttl": "1m", "ttl": "5m",}]}"#,
         "routes[1].ttl", "is given twice in its object"),
        (#"{"upstream": "http://a:1", "store": {"memory": "1MiB", "me\u006dory": "2MiB"}}"#, "store.memory", "is given twice in its object"),
        (#"[1, 2]"#, "", "expected an object, found an array"),
        (#"{"upstream": "http://a:1""#, "", "not valid JSON"),
        (#"{"upstream": 'http://a:1'}"#, "", "not valid JSON"),
    ] as [(String, String, String)])
    func problemAtPath(json: String, path: String, fragment: String) {
        let found = problems(json)
        let message = problem(at: path, in: found) ?? ""
        #expect(message.contains(fragment), "\(path): \(message)")
    }

    /// One proxy.json for runs with and without Redis: an empty `signingKey` is none, and
    /// `tls` without Redis applies to nothing. Both were refused ("needs store.redis",
    /// "applies to rediss:// only") when `${REDIS_URL:-}` and `${SIGNING_KEY:-}` were unset.
    @Test func redisOnlyFieldsLeftEmptyServeAMemoryOnlyRun() throws {
        let json = config(#""store": {"redis": "${REDIS_URL:-}", "signingKey": "${SIGNING_KEY:-}", "tls": {"verify": true}}"#)
        let memoryOnly = try parse(json)
        #expect(memoryOnly.store.redis == nil && memoryOnly.store.signingKey == nil)
        let key = "0123456789abcdef0123456789abcdef"
        let shared = try parse(json, env: ["REDIS_URL": "rediss://cache:6380", "SIGNING_KEY": key])
        #expect(shared.store.redis?.tls == true && shared.store.signingKey == key)
        #expect(problem(at: "store.tls", in: problems(json.replacing("${REDIS_URL:-}", with: "redis://cache:6379"))) != nil,
                "a TLS setting for a plain redis:// URL is still a mistake")
        // With Redis, a key left empty must not turn signing off unnoticed.
        #expect(problem(at: "store.signingKey", in: problems(json, env: ["REDIS_URL": "rediss://cache:6380"]))?.contains("too short") == true)
    }

    @Test func adminTokenOrLoopback() throws {
        let message = problem(at: "admin.listen", in: problems(config(#""admin": {"listen": "0.0.0.0:9090"}"#))) ?? ""
        #expect(message.contains("loopback") && message.contains("token"))
        let withToken = try parse(config(#""admin": {"listen": "0.0.0.0:9090", "token": "${T}"}"#), env: ["T": "s3cret-0123456789"])
        #expect(withToken.admin?.token == "s3cret-0123456789")
        for listen in ["127.0.0.1:9090", "127.1.2.3:1", "[::1]:9090", "localhost:9090"] {
            let c = try parse(config(#""admin": {"listen": "\#(listen)"}"#))
            #expect(c.admin?.listen.isLoopback == true, "\(listen)")
            #expect(c.admin?.token == nil)
        }
        #expect(try parse(config(#""admin": {}"#)).admin?.listen == ListenAddress(host: "127.0.0.1", port: 9090))
    }

    /// Off loopback the token is all that guards purges: a guessable one is refused,
    /// naming the field and saying why, and never quoting the token.
    @Test(arguments: [
        ("0.0.0.0:9090", "abc123", "shorter than 16 characters"),
        ("0.0.0.0:9090", "fifteen-chars!!", "shorter than 16 characters"),
        ("10.0.0.5:9090", "                    ", "all whitespace"),
        ("0.0.0.0:9090", "\t\n \t\n \t\n \t\n \t\n \t\n", "all whitespace"),
        ("[::]:9090", " ", "all whitespace"),
        // deploy/kubernetes/secret.yaml's placeholder, known to everyone who read it.
        ("0.0.0.0:9090", "REPLACE-ME-with-a-long-random-token", "placeholder"),
        ("0.0.0.0:9090", "sixteen-chars-ok", nil),
        ("0.0.0.0:9090", "  padded but long enough  ", nil),
        ("127.0.0.1:9090", "abc123", nil),
    ] as [(String, String, String?)])
    func weakAdminTokensOffLoopbackAreRefused(listen: String, token: String, refusal: String?) throws {
        let json = config(#""admin": {"listen": "\#(listen)", "token": "${T}"}"#)
        guard let refusal else {
            #expect(try parse(json, env: ["T": token]).admin?.token == token)
            return
        }
        let message = problem(at: "admin.token", in: problems(json, env: ["T": token])) ?? ""
        #expect(message.contains(refusal) && message.contains("not on loopback") && message.contains("16"), "\(message)")
        if !token.allSatisfy(\.isWhitespace) { #expect(!message.contains(token), "\(message)") }
    }

    @Test func cacheRouteMethods() throws {
        let c = try parse(config(#""routes": [{"name": "a", "match": "GET|HEAD /a"}, {"name": "b-2_x", "match": "GET /b/*"}]"#))
        #expect(c.routes.routes.map(\.name) == ["a", "b-2_x"])
    }

    /// Regression: a missing name must not hide the route's other problems.
    @Test func routeMissingNameStillReportsItsOtherProblems() {
        let found = problems(config(#""routes": [{"ttl": "5 minutes"}]"#))
        #expect(found.contains { $0.path == "routes[0].name" })
        #expect(found.contains { $0.path == "routes[0].match" })
        #expect(found.contains { $0.path == "routes[0].ttl" })
    }

    /// Routes are tried in order: a personal route after a shared or claims route that
    /// takes all its paths is never reached, and `/api/me` (keyed per user in the file)
    /// went to everyone from the shared `/api/*`. Refused, naming both; in the other
    /// order, or where the later route keeps some paths of its own, it loads.
    @Test func aPersonalRouteHiddenBehindASharedOneIsRefused() throws {
        let hidden = problems(config(#"""
        "routes": [ { "name": "pub", "match": "GET /api/*", "shared": true },
                    { "name": "me", "match": "GET /api/me", "key": { "identity": "Authorization" } } ]
        """#))
        let message = try #require(problem(at: "routes[1].match", in: hidden))
        #expect(message.contains("never reached") && message.contains("\"pub\""), "\(message)")
        let byClaims = problems(config(#"""
        "auth": { "jwt": { "secret": "0123456789abcdef0123456789abcdef" } },
        "routes": [ { "name": "byRole", "match": "GET /v2/{x}", "key": { "claims": ["role"] } },
                    { "name": "mine", "match": "GET /v2/me", "key": { "claims": ["sub"] } } ]
        """#))
        #expect(problem(at: "routes[1].match", in: byClaims) != nil)
        for fine in [
            #"[ { "name": "me", "match": "GET /api/me", "key": { "identity": "Authorization" } }, { "name": "pub", "match": "GET /api/*", "shared": true } ]"#,
            #"[ { "name": "pub", "match": "GET /api/public/*", "shared": true }, { "name": "rest", "match": "GET /api/*", "key": { "identity": "Authorization" } } ]"#,
            #"[ { "name": "all", "match": "GET /api/*" }, { "name": "me", "match": "GET /api/me", "key": { "identity": "Authorization" } } ]"#,
        ] {
            #expect(throws: Never.self) { try parse(config(#""routes": "# + fine)) }
        }
    }

    /// A config in UTF-16 (Windows PowerShell 5 writes it so) was read by Foundation, but
    /// the duplicate check reads UTF-8 and saw no `"ttl"` twice: the file ran with the
    /// first, jq and Python read the second. It is refused, as is `"auth": {}`, which
    /// was refused with "0 problems".
    @Test func aConfigNotInUTF8AndAnEmptyAuthAreRefusedSayingWhy() throws {
        let json = #"{"upstream": "http://127.0.0.1:3000", "routes": [{"name": "a", "match": "GET /a", "ttl": "1h", "ttl": "0s"}]}"#
        for encoding in [String.Encoding.utf16LittleEndian, .utf16BigEndian, .utf16, .utf32] {
            let data = try #require(json.data(using: encoding))
            #expect(throws: ConfigError.self) { try ConfigLoader.parse(data, environment: [:]) }
            do { _ = try ConfigLoader.parse(data, environment: [:]) } catch {
                #expect(error.problems.first?.message.contains("UTF-8") == true, "\(error.problems)")
            }
        }
        #expect(problem(at: "auth", in: problems(config(#""auth": {}"#)))?.contains("jwt") == true)
    }
}
