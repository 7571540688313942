import SidecacheCore
import Testing

@Suite struct BodyTagTests {
    func json(_ text: String) -> JSONValue { JSONValue.parse(Array(text.utf8))! }

    @Test func aMemberPathTagsTheValue() throws {
        let rule = try BodyTag(parsing: "user:$.id")
        #expect(rule.prefix == "user:")
        #expect(rule.steps == [.member("id")])
        #expect(BodyTag.tags([rule], in: json(#"{"id": 7, "name": "Ann"}"#)).tags == ["user:7"])
    }

    @Test func eachElementOfAListIsTaggedOnce() throws {
        let rule = try BodyTag(parsing: "user:$.items[*].id")
        let body = json(#"{"items": [{"id": 7}, {"id": "x9"}, {"id": 7}, {"name": "no id"}, {"id": null}, {"id": {"a": 1}}]}"#)
        #expect(BodyTag.tags([rule], in: body).tags == ["user:7", "user:x9"])
    }

    @Test func aTopLevelArrayAndNestedListsAreWalked() throws {
        let rule = try BodyTag(parsing: "t$[*].tags[*]")
        #expect(BodyTag.tags([rule], in: json(#"[{"tags": ["a", "b"]}, {"tags": ["b", "c", true, 1.5]}]"#)).tags
                == ["ta", "tb", "tc", "ttrue", "t1.5"])
    }

    /// A tag is named in purges separated by spaces and commas: values holding one give
    /// none, and are counted, since a write can still name them (`PUT
    /// /api/users/john%20doe`) and the answer holding them must not be stored. An empty
    /// value is not counted: no write names an empty id.
    @Test func valuesThatCannotBeNamedGiveNoTagAndAreCounted() throws {
        let rule = try BodyTag(parsing: "n:$[*]")
        let reading = BodyTag.tags([rule], in: json(#"["a b", "a,b", "", "ok", "a\rb", "a\u000bb", "a\u2028b", "a\u0085b", "é"]"#))
        #expect(reading.tags == ["n:ok", "n:é"])
        #expect(reading.unnamable == 6)
        #expect(BodyTag.tags([rule], in: json(#"["", null, {"a": 1}, [2], "ok"]"#)).unnamable == 0)
    }

    /// A whole number only a Double holds (past Int64, or written `1e21`) names no one id
    /// exactly: counted, so the answer holding it is not stored (the audit's: a PUT of
    /// `/api/users/9223372036854775808` left the list holding it served).
    @Test(arguments: ["9223372036854775808", "1e21", "-9223372036854775809"])
    func wholeNumbersNoTagCanHoldAreCounted(id: String) throws {
        let rule = try BodyTag(parsing: "u:$.items[*].id")
        let document = #"{"items": [{"id": \#(id)}, {"id": 7}]}"#
        let parsed = BodyTag.tags([rule], in: json(document))
        #expect(parsed.tags == ["u:7"])
        #expect(parsed.unnamable == 1)
        let scanned = Array(document.utf8).withUnsafeBytes { BodyTag.tags([rule], inJSON: $0, wholeUpTo: 0) }
        #expect(scanned == parsed)
    }

    @Test func atMost64TagsAnEntryAndTheRestAreCounted() throws {
        let rule = try BodyTag(parsing: "u:$.items[*]")
        let body = json(#"{"items": [\#((0..<100).map(String.init).joined(separator: ","))]}"#)
        let reading = BodyTag.tags([rule], in: body)
        #expect(reading.tags.count == BodyTag.maxPerEntry)
        #expect(reading.tags.first == "u:0" && reading.tags.last == "u:63")
        #expect(reading.dropped == 36)
    }

    /// Answers past 64 KiB are scanned in one pass instead of parsed whole (a 4.7 MB list
    /// took 4.8 s and 1.2 GB on the loop): the scan must find the tags the parse finds.
    @Test(arguments: [
        #"{"items": [{"id": 7, "tags": ["a", "b"]}, {"id": "x9", "tags": []}, {"id": 7}, {"name": "no id"}, {"id": null}, {"id": {"a": 1}}], "owner": {"id": 3}, "name": "n"}"#,
        #"{"items": [{"id": 1.5}, {"id": 1e3}, {"id": -0}, {"id": 0}, {"id": -7}, {"id": 12345678901234567890}, {"id": 123456789012345678}, {"id": -1234567890123456789}]}"#,
        #"{"items": [{"id": "a\u0041"}, {"id": "tab\there"}, {"id": "caf\u00e9"}, {"id": "café"}, {"id": "a b"}, {"id": "a,b"}, {"id": ""}], "owner": {"id": true}}"#,
        #"[1, "x", true, false, null, [2], {"id": 4}]"#,
        #"{"owner": [{"id": 1}], "items": {"id": 2}, "name": ["s"]}"#,
        #"{"items": [\#((0..<100).map { #"{"id": \#($0)}"# }.joined(separator: ","))]}"#,
    ])
    func aScannedAnswerGivesTheParsedOnesTags(document: String) throws {
        let rules = try ["u:$.items[*].id", "t:$.items[*].tags[*]", "o:$.owner.id", "r:$[*]", "n:$.name", "u:$.owner.id"]
            .map { try BodyTag(parsing: $0) }
        let parsed = BodyTag.tags(rules, in: json(document))
        let scanned = try #require(Array(document.utf8).withUnsafeBytes { BodyTag.tags(rules, inJSON: $0, wholeUpTo: 0) })
        #expect(Set(scanned.tags) == Set(parsed.tags) && scanned.tags.count == parsed.tags.count, "\(scanned.tags) \(parsed.tags)")
        #expect(scanned.dropped == parsed.dropped)
        #expect(scanned.unnamable == parsed.unnamable)
    }

    @Test func aScannedAnswerThatIsNotJSONGivesNoTags() throws {
        let rules = [try BodyTag(parsing: "u:$.items[*].id")]
        for text in [#"{"items": [{"id": 1},]"#, #"{"items": [{"id": 01}]}"#, #"{"items": [{"id": 1}]} x"#, "[" + String(repeating: "[", count: 600)] {
            #expect(Array(text.utf8).withUnsafeBytes { BodyTag.tags(rules, inJSON: $0, wholeUpTo: 0) } == nil, "\(text)")
        }
    }

    @Test func pathsThatLeadNowhereGiveNothing() throws {
        let rules = try ["a:$.id.deeper", "b:$[*]", "c:$.missing"].map { try BodyTag(parsing: $0) }
        #expect(BodyTag.tags(rules, in: json(#"{"id": 3}"#)).tags.isEmpty)
    }

    @Test(arguments: [
        ("user:id", BodyTag.ParseError.noPath),
        ("user:$id", .badPath("id")),
        ("user:$.", .badPath(".")),
        ("user:$.a..b", .badPath("..b")),
        ("user:$.a[0]", .badPath("[0]")),
        ("user:$.a[*", .badPath("[*")),
        ("my user:$.id", .spaceInPrefix),
        ("a,b:$.id", .spaceInPrefix),
    ])
    func badTagsAreRefused(source: String, error: BodyTag.ParseError) {
        #expect(throws: error) { try BodyTag(parsing: source) }
    }
}

@Suite struct TagTemplateTests {
    func values(params: [String: String] = [:], query: Substring? = nil, headers: [(String, String)] = [],
                body: String? = nil) -> PurgeValues {
        PurgeValues(params: params, query: query, headers: HeaderList(headers.map { (name: $0.0, value: $0.1) }),
                    body: body.flatMap { JSONValue.parse(Array($0.utf8)) })
    }

    @Test func placeholdersAreFilledAsGivenWithoutEncoding() throws {
        let template = try TagTemplate(parsing: "user:{id}:{query.v}:{header.X-Team}:{body.a.b}")
        #expect(template.parameterNames == ["id"])
        #expect(template.readsBody)
        let tag = template.expand(values(params: ["id": "7"], query: "v=2", headers: [("X-Team", "t/1")], body: #"{"a": {"b": "é"}}"#))
        #expect(tag == ["user:7:2:t/1:é"])
    }

    @Test func aMissingOrUnnameableValueSkipsTheTarget() throws {
        let template = try TagTemplate(parsing: "user:{body.id}")
        #expect(template.expand(values(body: #"{"other": 1}"#)) == [])
        #expect(template.expand(values(body: #"{"id": ""}"#)) == [])
        #expect(template.expand(values(body: #"{"id": "a b"}"#)) == [])
        #expect(template.expand(values(body: #"{"id": 12}"#)) == ["user:12"])
    }

    /// The audit's: a Snowflake id in the body tagged the entry, and named the purge,
    /// as a rounded Double (`1.2345678901234568e+18`); `1e15` on gained a `.0`.
    @Test(arguments: ["1234567890123456789", "9007199254740993", "1000000000000000", "-42", "42"])
    func wholeNumbersAreReadExactly(id: String) throws {
        let template = try TagTemplate(parsing: "user:{body.id}")
        #expect(template.expand(values(body: #"{"id": \#(id)}"#)) == ["user:\(id)"])
        let rule = try BodyTag(parsing: "user:$.items[*].id")
        #expect(BodyTag.tags([rule], in: JSONValue.parse(Array(#"{"items": [{"id": \#(id)}]}"#.utf8))!).tags == ["user:\(id)"])
        // Past the size parsed whole, members are read from the scan: the same text.
        let padded = #"{"pad": "\#(String(repeating: "x", count: 70_000))", "id": \#(id)}"#
        let scanned = Array(padded.utf8).withUnsafeBytes { JSONMembers.pruned($0, to: [["id"]]) }
        #expect(scanned?.value(at: ["id"])?.scalarText == id)
    }

    /// A whole number only a Double holds (past Int64, or written `1e20`) names no one id exactly.
    @Test func aWholeNumberPastInt64NamesNoTag() throws {
        let template = try TagTemplate(parsing: "user:{body.id}")
        #expect(template.expand(values(body: #"{"id": 1e20}"#)) == [])
        #expect(template.expand(values(body: #"{"id": 1.5}"#)) == ["user:1.5"])
    }

    /// Path and query values are decoded, as the body's JSON strings the tags came from
    /// are: `encodeURIComponent`'s `a%40b.com` names `user:a@b.com`.
    @Test func encodedValuesNameDecodedTags() throws {
        let byParam = try TagTemplate(parsing: "user:{id}")
        #expect(byParam.expand(values(params: ["id": "caf%C3%A9"])) == ["user:café"])
        #expect(byParam.expand(values(params: ["id": "a+b"])) == ["user:a+b"], "a path's + is itself")
        let byQuery = try TagTemplate(parsing: "user:{query.id}")
        #expect(byQuery.expand(values(query: "id=a%40b.com")) == ["user:a@b.com"])
        #expect(byQuery.expand(values(query: "id=a+b")) == [], "a form's + is a space, which no tag holds")
        #expect(PurgeScope.tags(HeaderList([(name: "Surrogate-Key", value: "grpA, grpB"), (name: "Surrogate-Key", value: "c,d e")]))
                == ["grpA", "grpB", "c", "d", "e"], "Surrogate-Key lists are split on blanks and commas")
    }

    /// A value given more than once names a tag for each: the upstream took one of them.
    @Test func eachReadingOfARepeatedValueIsATag() throws {
        #expect(try TagTemplate(parsing: "user:{query.id}").expand(values(query: "id=1&id=2")) == ["user:1", "user:2"])
        #expect(try TagTemplate(parsing: "user:{query.id}").expand(values(query: "id=1;id=2")) == ["user:1;id=2", "user:1", "user:2"])
        #expect(try TagTemplate(parsing: "u:{header.X-Id}").expand(values(headers: [("X-Id", "1 "), ("x-id", "\t2")])) == ["u:1", "u:2"])
        #expect(try TagTemplate(parsing: "u:{header.X-Id}").expand(values(headers: [("X-Id", "1"), ("x-id", "1 ")])) == ["u:1"])
        let many = (0..<65).map { "id=\($0)" }.joined(separator: "&")
        #expect(try TagTemplate(parsing: "user:{query.id}").expand(values(query: many[...])) == [], "past 64 readings: skipped, logged")
    }

    @Test(arguments: ["", "user {id}", "user:{id", "user:id}", "user:{}", "a,b"])
    func badTemplatesAreRefused(source: String) {
        #expect(throws: TagTemplate.ParseError.self) { try TagTemplate(parsing: source) }
    }

    @Test func aPurgeRuleWithTagsPurgesThoseTags() throws {
        let rule = PurgeRule(on: try RequestPattern(parsing: "PUT /api/users/{id}"),
                             targets: [.tag(try TagTemplate(parsing: "user:{id}")), .tag(try TagTemplate(parsing: "team:{body.team}"))])
        let plan = PurgePlan(method: "PUT", path: "/api/users/7", rules: [rule])
        let scopes = plan.scopes(query: nil, headers: HeaderList(), body: nil)
        #expect(scopes.remove == [.tag("user:7")])
        #expect(scopes.widened.isEmpty)
        #expect(scopes.skippedTags == ["team:{body.team}"])
        #expect(plan.readsBody)
    }

    /// As a path without its value widens to its subtree, a tag without its value widens
    /// to the routes whose body tags could carry it (the audit's: `POST /api/teams` with
    /// a form body, or `{"name": ["red"]}`, answered 2xx and left every list of team red
    /// served). Only a tag no route's body gives (a `Surrogate-Key`) is still skipped.
    @Test func aTagWithoutItsValueWidensToTheRoutesThatCouldCarryIt() throws {
        func route(_ name: String, _ tags: [String]) throws -> Route {
            Route(name: name, pattern: try RequestPattern(parsing: "GET /\(name)/{id}"), ttl: .fixed(.seconds(60)),
                  tags: try tags.map { try BodyTag(parsing: $0) })
        }
        let routes = RouteTable([try route("lists", ["user:$.items[*].id", "team:$.team"]), try route("users", ["user:$.id"]),
                                 try route("plain", []), try route("t", ["t$.x"])])
        func scopes(_ template: String) throws -> PurgePlan.Scopes {
            let rule = PurgeRule(on: try RequestPattern(parsing: "POST /teams"), targets: [.tag(try TagTemplate(parsing: template))])
            return PurgePlan(method: "POST", path: "/teams", rules: [rule]).scopes(query: nil, headers: HeaderList(), body: nil, routes: routes)
        }
        let team = try scopes("team:{body.name}")
        #expect(team.remove == [.route("lists"), .route("t")] && team.skippedTags.isEmpty && team.widened.count == 1)
        #expect(try scopes("user:{body.id}").remove == [.route("lists"), .route("users")])
        #expect(try scopes("{body.kind}:{body.id}").remove == [.route("lists"), .route("users"), .route("t")])
        let surrogate = try scopes("sku-{body.id}")
        #expect(surrogate.remove.isEmpty && surrogate.skippedTags == ["sku-{body.id}"])
        let rule = PurgeRule(on: try RequestPattern(parsing: "POST /teams"), targets: [.tag(try TagTemplate(parsing: "team:{body.name}"))])
        let unnamable = PurgePlan(method: "POST", path: "/teams", rules: [rule])
            .scopes(query: nil, headers: HeaderList(), body: JSONValue.parse(Array(#"{"name": "a b"}"#.utf8)), routes: routes)
        #expect(unnamable.remove.isEmpty && unnamable.skippedTags == ["team:{body.name}"], "a value no tag holds: nothing to widen to")
    }
}
