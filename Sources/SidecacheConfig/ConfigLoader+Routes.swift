import SidecacheCore

extension ConfigLoader {
    /// `defaults` keys, read from `fields` on top of `base` (every route may set them too).
    static func routePolicy(_ fields: [String: Node], base: RoutePolicy, baseTTL: TTLPolicy) -> (RoutePolicy, TTLPolicy?) {
        var p = base
        var ttl: TTLPolicy? = baseTTL
        if let n = fields["ttl"] {
            if case .string(let raw) = n.value, raw == "origin" { ttl = .origin } else if let d = n.duration() { ttl = .fixed(d) } else { ttl = nil }
        }
        if let v = fields["staleWhileRevalidate"]?.duration() { p.staleWhileRevalidate = v }
        if let v = fields["staleIfError"]?.duration() { p.staleIfError = v }
        if let v = fields["maxBodySize"]?.size(atMost: 2 << 30) { p.maxBodySize = v }
        if let n = fields["upstreamTimeout"], let v = n.duration() {
            if v > .zero { p.upstreamTimeout = v } else { n.report("must be more than 0") }
        }
        if let v = fields["maxRequestBody"]?.size(atMost: 2 << 30) { p.maxRequestBody = v }
        if let v = fields["compress"]?.bool() { p.compress = v }
        if let n = fields["verify"], let text = n.string() {
            if let share = percentage(text) { p.verify = share } else { n.report("\"\(text)\" is not a share of hits: use a percentage from \"0%\" to \"100%\", e.g. \"1%\" or \"0.1%\"") }
        }
        return (p, ttl)
    }

    /// `"1%"`, `"0.5%"`: a fraction in 0...1.
    static func percentage(_ text: String) -> Double? {
        guard text.hasSuffix("%"), let value = Double(text.dropLast()), value.isFinite, (0...100).contains(value) else { return nil }
        return value / 100
    }

    static func routePolicy(_ node: Node?, base: RoutePolicy, baseTTL: TTLPolicy, allowTTL: Bool) -> (RoutePolicy, TTLPolicy?) {
        guard let node else { return (base, baseTTL) }
        guard let fields = node.object(allowing: ConfigKeys.policy) else { return (base, baseTTL) }
        return routePolicy(fields, base: base, baseTTL: baseTTL)
    }

    /// The routes, or nil when any is invalid; and every name declared, valid or not,
    /// so purge rules naming a route with a problem elsewhere are not reported too.
    static func routes(_ node: Node?, defaults: RoutePolicy, defaultTTL: TTLPolicy, jwt: JWTConfig?) -> ([Route]?, Set<String>) {
        guard let node else { return ([], []) }
        guard let items = node.array() else { return (nil, []) }
        var routes: [Route] = []
        var names: Set<String> = []
        let before = node.reader.problems.count
        for item in items {
            guard let f = item.object(allowing: ConfigKeys.route) else { continue }
            // Every field is checked even when another is missing: all problems at once.
            let name = required(f, "name", item)?.string()
            if let name, let node = f["name"] {
                if !isLabel(name) {
                    node.report("\"\(name)\" is not a route name: use letters, digits, - and _ (it becomes a metric label)")
                } else if !names.insert(name).inserted {
                    node.report("duplicate route name \"\(name)\"")
                }
            }
            let key = f["key"].map(keySpec) ?? KeySpec()
            var pattern: RequestPattern?
            if let matchNode = required(f, "match", item), let matchText = matchNode.string() {
                do {
                    let p = try RequestPattern(parsing: matchText)
                    let found = p.methods.joined(separator: "|")
                    if p.methods.contains(where: { $0 != "GET" && $0 != "HEAD" && $0 != "POST" }) || !(p.methods.contains("GET") || p.methods.contains("POST")) {
                        matchNode.report("a cache route matches GET (HEAD is answered from the GET entry), or POST with key.body; found \(found)")
                    } else if p.methods.contains("POST"), key.map({ !$0.body }) ?? false {
                        matchNode.report("a cache route matches POST only with \"key\": {\"body\": true} (the body is part of the key); found \(found)")
                    } else {
                        pattern = p
                    }
                } catch {
                    matchNode.report("\"\(matchText)\": \(error)")
                }
            }
            let (policy, ttl) = routePolicy(f, base: defaults, baseTTL: defaultTTL)
            let shared = f["shared"]?.bool() ?? false
            var claims: ClaimsKey?
            if let names = key?.claims, let claimsNode = f["key"]?.child("claims", .null) {
                if let jwt { claims = ClaimsKey(names: names, from: jwt.from, authority: jwt.authority) } else {
                    claimsNode.report("key.claims needs the top-level auth.jwt (how tokens are verified)")
                }
                if key?.identity != nil { claimsNode.report("key.claims and key.identity exclude each other: claims share entries, identity splits them") }
                if shared { claimsNode.report("key.claims and shared: true exclude each other: shared hands answers to anonymous clients") }
            }
            let override = f["override"]?.bool() ?? false
            if override, ttl == .origin { f["override"]!.report("override needs a duration ttl: an \"origin\" route takes its freshness from the upstream") }
            let spelling = f["paths"].map(pathSpelling) ?? .exact
            let tags = f["tags"].map(bodyTags) ?? []
            guard let name, let pattern, let ttl, let key, let spelling, let tags else { continue }
            let route = Route(name: name, pattern: pattern, ttl: ttl, query: key.query, keyHeaders: key.headers, identity: key.identity,
                              claims: claims, shared: shared, override: override, policy: policy, spelling: spelling,
                              tags: tags, keyBody: key.body)
            // Routes are tried in order: one whose every path an earlier route takes is
            // never reached, and where that route shares answers more widely (`shared`,
            // `key.claims`) the personal route the operator reads in the file is not the
            // one answering: `/api/me` behind a shared `/api/*` went to everyone.
            if let first = routes.first(where: { $0.shadows(route) }), first.shared || first.claims != nil, first.sharesMoreWidely(than: route) {
                f["match"]?.report("never reached: route \"\(first.name)\" (\(first.pattern)) takes every path it matches first, "
                                   + "and shares its answers more widely; list \"\(name)\" before it")
            }
            routes.append(route)
        }
        return (node.reader.problems.count == before ? routes : nil, names)
    }

    /// `tags`: `prefix$.json.path` strings (see `BodyTag`).
    private static func bodyTags(_ node: Node) -> [BodyTag]? {
        guard let items = node.array() else { return nil }
        let before = node.reader.problems.count
        var tags: [BodyTag] = []
        for item in items {
            guard let text = item.string() else { continue }
            do { tags.append(try BodyTag(parsing: text)) } catch { item.report("\"\(text)\": \(error)") }
        }
        return node.reader.problems.count == before ? tags : nil
    }

    /// `paths`: which spellings the upstream treats as one resource (see `PathSpelling`).
    private static func pathSpelling(_ node: Node) -> PathSpelling? {
        guard let f = node.object(allowing: ConfigKeys.routePaths) else { return nil }
        let before = node.reader.problems.count
        let spelling = PathSpelling(caseInsensitive: f["caseInsensitive"]?.bool() ?? false,
                                    ignoreTrailingSlash: f["ignoreTrailingSlash"]?.bool() ?? false,
                                    ignoreMatrix: f["ignoreMatrix"]?.bool() ?? false)
        return node.reader.problems.count == before ? spelling : nil
    }

    /// A route's `key`, as read.
    private struct KeySpec {
        var query = QueryKey.all
        var headers: [String] = []
        var identity: IdentitySource?
        var claims: [String]?
        var body = false
    }

    private static func keySpec(_ node: Node) -> KeySpec? {
        guard let f = node.object(allowing: ConfigKeys.routeKey) else { return nil }
        let before = node.reader.problems.count
        var query = QueryKey.all
        if let n = f["query"] {
            switch n.value {
            case .string("all"): query = .all
            case .string("none"): query = .none
            case .array: if let names = n.strings() { query = .only(names) }
            default: n.report("must be \"all\", \"none\" or a list of parameter names")
            }
        }
        var headers: [String] = []
        if let n = f["headers"], let names = n.strings() {
            for (i, h) in names.enumerated() where !isRequestFieldName(h) {
                Node(value: .string(h), path: "\(n.path)[\(i)]", reader: n.reader).report(notARequestFieldName(h))
            }
            headers = names
        }
        var identity: IdentitySource?
        if let n = f["identity"], let text = n.string() { identity = identitySource(text, n) }
        var claims: [String]?
        if let n = f["claims"], let names = n.strings() {
            if names.isEmpty || names.contains(where: \.isEmpty) { n.report("list one or more claim names, e.g. [\"role\"]") } else { claims = names }
        }
        let body = f["body"]?.bool() ?? false
        return node.reader.problems.count == before
            ? KeySpec(query: query, headers: headers, identity: identity, claims: claims, body: body) : nil
    }

    static let unsafeOnly: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE"]

    static func purgeRules(_ node: Node?, routeNames: Set<String>) -> [PurgeRule]? {
        guard let node else { return [] }
        guard let items = node.array() else { return nil }
        let before = node.reader.problems.count
        var rules: [PurgeRule] = []
        for item in items {
            guard let f = item.object(allowing: ConfigKeys.purgeRule) else { continue }
            guard let onNode = required(f, "on", item), let onText = onNode.string() else { continue }
            var pattern: RequestPattern?
            do {
                let p = try RequestPattern(parsing: onText)
                let safe = p.methods.filter { unsafeOnly.contains($0) }
                if safe.isEmpty { pattern = p } else {
                    onNode.report("purges follow mutations; \(safe.joined(separator: "|")) never purges (use POST, PUT, PATCH, DELETE)")
                }
            } catch {
                onNode.report("\"\(onText)\": \(error)")
            }
            var targets = templateTargets(f["paths"], bound: pattern, onText) { text in
                let template = try PathTemplate(parsing: text)
                return (.path(template), template.parameterNames)
            }
            if let routesNode = f["routes"], let names = routesNode.array() {
                for n in names {
                    guard let name = n.string() else { continue }
                    if !routeNames.contains(name) { n.report("no route is named \"\(name)\"") } else { targets.append(.route(name)) }
                }
            }
            targets += templateTargets(f["tags"], bound: pattern, onText) { text in
                let template = try TagTemplate(parsing: text)
                return (.tag(template), template.parameterNames)
            }
            if f["paths"] == nil && f["routes"] == nil && f["tags"] == nil { item.report("a purge rule needs \"paths\", \"routes\" or \"tags\"") }
            var mode = PurgeMode.remove
            if let n = f["mode"], let text = n.string() {
                if let m = PurgeMode(rawValue: text) { mode = m } else { n.report("must be \"remove\" or \"stale\"") }
            }
            if let pattern { rules.append(PurgeRule(on: pattern, targets: targets, mode: mode)) }
        }
        return node.reader.problems.count == before ? rules : nil
    }

    /// A rule's `paths` or `tags`: each string parsed by `parse` (the target and the
    /// `{param}`s it uses), which the rule's `on` must bind.
    private static func templateTargets(_ node: Node?, bound pattern: RequestPattern?, _ onText: String,
                                        _ parse: (String) throws -> (PurgeRule.Target, [String])) -> [PurgeRule.Target] {
        guard let items = node?.array() else { return [] }
        var targets: [PurgeRule.Target] = []
        for item in items {
            guard let text = item.string() else { continue }
            do {
                let (target, names) = try parse(text)
                reportUnbound(names, by: pattern, onText, at: item)
                targets.append(target)
            } catch {
                item.report("\"\(text)\": \(error)")
            }
        }
        return targets
    }

    private static func reportUnbound(_ names: [String], by pattern: RequestPattern?, _ onText: String, at node: Node) {
        guard let pattern else { return }
        let bound = pattern.path.parameterNames
        for name in names where !bound.contains(name) {
            node.report("{\(name)} is not bound by \"\(onText)\" (bound: \(bound.map { "{\($0)}" }.joined(separator: ", ")); or use {query.X}, {header.X}, {body.a.b})")
        }
    }

    /// `basePath`: the upstream's, a boundary no warm path may climb out of (every request
    /// that would gets 400, a warm one every 30 s).
    static func warmTargets(_ node: Node?, routes: RouteTable, routeProblems: Bool, basePath: String) -> [WarmTarget]? {
        guard let node else { return [] }
        guard let items = node.array() else { return nil }
        let before = node.reader.problems.count
        var targets: [WarmTarget] = []
        for item in items {
            guard let f = item.object(allowing: ConfigKeys.warmTarget) else { continue }
            let host = f["host"].map(hostValue) ?? .some(nil)
            let headers = f["headers"].map(headerLines) ?? []
            guard let pathNode = required(f, "path", item), let path = pathNode.string(), let every = required(f, "every", item)?.duration() else { continue }
            let target = RequestTarget(path)
            let route = target.flatMap { routes.route(forGET: $0.path) }
            guard route != nil || (target != nil && routeProblems) else {
                pathNode.report("\"\(path)\" matches no cache route (warm paths must be cached)")
                continue
            }
            if let route, let target, route.folds(target.path) {
                pathNode.report("\"\(path)\" is spelled as route \"\(route.name)\" folds into another path's entry (escapes, ;parameters): warm its plain spelling")
            }
            if let target, !basePath.isEmpty, DotSegments.climb(in: target.path) {
                pathNode.report("\"\(path)\" has a .. segment, which would leave the upstream's base path \"\(basePath)\"")
            }
            if every < .seconds(1) { f["every"]!.report("must be at least 1s") }
            guard let host, let headers else { continue }
            targets.append(WarmTarget(path: path, every: every, host: host, headers: headers))
        }
        return node.reader.problems.count == before ? targets : nil
    }

    /// A Host value: it goes upstream as the Host line, so no CR, LF or NUL. Empty: none.
    static func hostValue(_ node: Node) -> String?? {
        guard let text = node.string() else { return nil }
        if text.isEmpty { return .some(nil) }
        guard isHostFieldValue(text) else {
            node.report("not a host and port (RFC 3986: letters, digits, -._~!$&'()*+,;=%, [IPv6], :port)")
            return nil
        }
        return .some(text)
    }

    /// `{"Name": "value"}`: header names are tokens without `_`, values have no CR, LF or NUL.
    static func headerLines(_ node: Node) -> [HeaderLine]? {
        guard let fields = node.objectMembers() else { return nil }
        let before = node.reader.problems.count
        var lines: [HeaderLine] = []
        for (name, valueNode) in fields {
            guard let value = valueNode.string() else { continue }
            if !isRequestFieldName(name) { valueNode.report(notARequestFieldName(name)) }
            else if name.lowercased() == "host" { valueNode.report("set the Host with \"host\", not in headers") }
            else if !isOperatorRequestFieldName(name) {
                valueNode.report("\(name) is hop-by-hop or framing: the proxy sets it, or it never reaches the upstream")
            }
            else if !isSafeFieldValue(value) { valueNode.report("a header value may not contain CR, LF or NUL") }
            else { lines.append(HeaderLine(name: name, value: value)) }
        }
        return node.reader.problems.count == before ? lines.sorted { $0.name < $1.name } : nil
    }

    private static func required(_ fields: [String: Node], _ key: String, _ parent: Node) -> Node? {
        if let n = fields[key] { return n }
        parent.child(key, .null).report("required")
        return nil
    }

    static func isLabel(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { b in (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x2D || b == 0x5F }
    }
}
