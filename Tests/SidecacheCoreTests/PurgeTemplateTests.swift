import Testing
@testable import SidecacheCore

private func values(params: [String: String] = [:], query: String? = nil, headers: HeaderList = [], body: String? = nil) -> PurgeValues {
    PurgeValues(params: params, query: query?[...], headers: headers, body: body.flatMap { JSONValue.parse(Array($0.utf8)) })
}

struct TemplateCase: Sendable, CustomTestStringConvertible {
    var template: String
    var params: [String: String] = [:]
    var query: String?
    var headers: HeaderList = []
    var body: String?
    var scope: PurgeScope
    var widened: String?
    var testDescription: String { "\(template) → \(scope)" }
}

@Suite struct PurgeTemplateTests {
    @Test(arguments: [
        TemplateCase(template: "/api/users/{id}", params: ["id": "42"], scope: .path("/api/users/42")),
        TemplateCase(template: "/api/users/{id}", params: ["id": "J%C3%BCrgen"], scope: .path("/api/users/J%C3%BCrgen")),
        TemplateCase(template: "/api/users", scope: .path("/api/users")),
        TemplateCase(template: "/", scope: .path("/")),
        TemplateCase(template: "/api/feed/*", scope: .subtree("/api/feed/")),
        TemplateCase(template: "/*", scope: .subtree("/")),
        TemplateCase(template: "/api/users/{id}/*", params: ["id": "7"], scope: .subtree("/api/users/7/")),
        TemplateCase(template: "/o/{query.org}/x", query: "a=1&org=acme&b", scope: .path("/o/acme/x")),
        TemplateCase(template: "/o/{query.org}", query: "org=a%20b", scope: .path("/o/a%20b")),        // decoded, encoded again
        TemplateCase(template: "/t/{header.X-Tenant}", headers: [("x-tenant", "t1")], scope: .path("/t/t1")),
        TemplateCase(template: "/t/{header.X-Tenant}", headers: [("X-Tenant", "a b?")], scope: .path("/t/a%20b%3F")),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": 42}"#, scope: .path("/s/42")),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": "u-9"}"#, scope: .path("/s/u-9")),
        TemplateCase(template: "/s/{body.user.id}", body: #"{"user": {"id": 7, "name": "x"}}"#, scope: .path("/s/7")),
        TemplateCase(template: "/s/{body.user.id}", body: #"{"user": {"id": "é"}}"#, scope: .path("/s/%C3%A9")),
        TemplateCase(template: "/s/{body.flag}", body: #"{"flag": true}"#, scope: .path("/s/true")),
        // Missing, empty or "/" values widen to the subtree of the static prefix.
        TemplateCase(template: "/api/connectors/status/{body.userId}", body: #"{"other": 1}"#,
                     scope: .subtree("/api/connectors/status/"), widened: "{body.userId}"),
        TemplateCase(template: "/api/connectors/status/{body.userId}", body: nil,
                     scope: .subtree("/api/connectors/status/"), widened: "{body.userId}"),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": ""}"#, scope: .subtree("/s/"), widened: "{body.userId}"),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": "a/b"}"#, scope: .subtree("/s/"), widened: "{body.userId}"),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": {"x": 1}}"#, scope: .subtree("/s/"), widened: "{body.userId}"),
        TemplateCase(template: "/s/{body.userId}", body: #"{"userId": null}"#, scope: .subtree("/s/"), widened: "{body.userId}"),
        TemplateCase(template: "/a/{id}/b/{query.x}", params: ["id": "1"], scope: .subtree("/a/1/b/"), widened: "{query.x}"),
        TemplateCase(template: "/a/{query.x}", query: "x=", scope: .subtree("/a/"), widened: "{query.x}"),
        TemplateCase(template: "/a/{query.x}", query: "x", scope: .subtree("/a/"), widened: "{query.x}"),
        TemplateCase(template: "/a/{query.x}", query: "y=1", scope: .subtree("/a/"), widened: "{query.x}"),
        TemplateCase(template: "/a/{header.X-Id}", headers: [("X-Id", "a/b")], scope: .subtree("/a/"), widened: "{header.X-Id}"),
        TemplateCase(template: "/a/{header.X-Id}", scope: .subtree("/a/"), widened: "{header.X-Id}"),
        TemplateCase(template: "/{id}", params: ["id": ""], scope: .subtree("/"), widened: "{id}"),
        // Given more than once, or read differently by upstreams splitting on ";": which
        // one the upstream took is not known, so the purge widens (it purged the first).
        TemplateCase(template: "/a/{query.id}", query: "id=1&id=2", scope: .subtree("/a/"), widened: "{query.id}"),
        TemplateCase(template: "/a/{query.id}", query: "id=1;id=2", scope: .subtree("/a/"), widened: "{query.id}"),
        TemplateCase(template: "/a/{query.id}", query: "id=1&x=2&id=1", scope: .path("/a/1")),
        // A name in any spelling the upstream decodes to it is one more reading (PHP,
        // Django and Rails took the last: `?id=5&%69d=7` changed user 7, the purge took 5).
        TemplateCase(template: "/a/{query.id}", query: "id=5&%69d=7", scope: .subtree("/a/"), widened: "{query.id}"),
        TemplateCase(template: "/a/{query.id}", query: "id=5&i%64=7", scope: .subtree("/a/"), widened: "{query.id}"),
        TemplateCase(template: "/a/{query.id}", query: "id=5&ID=7", scope: .subtree("/a/"), widened: "{query.id}"),
        TemplateCase(template: "/a/{query.id}", query: "%69d=7", scope: .path("/a/7")),
        TemplateCase(template: "/a/{query.id}", query: "id=5&idx=7&i=7", scope: .path("/a/5")),
        TemplateCase(template: "/a/{query.id}", query: "id=5&+id=7", scope: .subtree("/a/"), widened: "{query.id}"),
        // A bracketed name is compared whole: `filter[status]` is another parameter.
        TemplateCase(template: "/a/{query.filter[id]}", query: "filter[status]=open", scope: .subtree("/a/"), widened: "{query.filter[id]}"),
        TemplateCase(template: "/a/{query.filter[id]}", query: "filter[id]=5&filter[status]=open", scope: .path("/a/5")),
        TemplateCase(template: "/a/{query.filter[id]}", query: "filter%5Bid%5D=5&filter[status]=open", scope: .path("/a/5")),
        TemplateCase(template: "/a/{query.filter[id]}", query: "filter[id]=5&Filter[ID]=7", scope: .subtree("/a/"), widened: "{query.filter[id]}"),
        TemplateCase(template: "/a/{header.X-Id}", headers: [("X-Id", "1"), ("x-id", "2")], scope: .subtree("/a/"), widened: "{header.X-Id}"),
        // Blanks around a header value are not part of it (RFC 9110 §5.5).
        TemplateCase(template: "/a/{header.X-Id}", headers: [("X-Id", "1 ")], scope: .path("/a/1")),
        TemplateCase(template: "/a/{header.X-Id}", headers: [("X-Id", "\t1\t")], scope: .path("/a/1")),
        TemplateCase(template: "/s/{body.id}", body: #"{"id": 1234567890123456789}"#, scope: .path("/s/1234567890123456789")),
        TemplateCase(template: "/s/{body.id}", body: #"{"id": 1e20}"#, scope: .subtree("/s/"), widened: "{body.id}"),
        TemplateCase(template: "/a/{id}/*", params: [:], scope: .subtree("/a/"), widened: "{id}"),
        // Query values as the upstream decodes them: `encodeURIComponent`'s `%2F` is a "/"
        // (widened), `+` a space, `%40` an "@". A path parameter is one segment as sent:
        // its `%2F` names no cacheable path, and does not let a client flush the subtree.
        TemplateCase(template: "/f/{query.path}", query: "path=a%2Fb", scope: .subtree("/f/"), widened: "{query.path}"),
        TemplateCase(template: "/f/{id}", params: ["id": "a%2fb"], scope: .path("/f/a%2fb")),
        TemplateCase(template: "/s/{query.id}", query: "id=a+b", scope: .path("/s/a%20b")),
        TemplateCase(template: "/s/{query.id}", query: "id=a%40b.c", scope: .path("/s/a@b.c")),
        TemplateCase(template: "/s/{query.id}", query: "id=a%7Cb", scope: .path("/s/a%7Cb")),
        TemplateCase(template: "/s/{id}", params: ["id": "a+b"], scope: .path("/s/a+b")),
    ])
    func expand(c: TemplateCase) throws {
        let t = try PathTemplate(parsing: c.template)
        let (scope, widened) = t.expand(values(params: c.params, query: c.query, headers: c.headers, body: c.body))
        #expect(scope == c.scope)
        #expect(widened == c.widened)
    }

    @Test func parsedShape() throws {
        let t = try PathTemplate(parsing: "/a/{id}/{query.q}/{header.H}/{body.x.y}/*")
        #expect(t.segments == [.literal("a"), .value(.param("id")), .value(.query("q")), .value(.header("H")), .value(.body(["x", "y"]))])
        #expect(t.isSubtree)
        #expect(t.parameterNames == ["id"])
        #expect(t.readsBody)
        #expect(try !PathTemplate(parsing: "/a/{id}").readsBody)
    }

    @Test(arguments: [
        ("a/{id}", .notAbsolute),
        ("/a//b", .emptySegment),
        ("/a/", .emptySegment),
        ("/a/*/b", .starNotLast),
        ("/a*", .starNotLast),
        ("/a/{id", .badPlaceholder("{id")),
        ("/a/x{id}", .badPlaceholder("x{id}")),
        ("/a/{}", .badPlaceholder("{}")),
        ("/a/{query.}", .badPlaceholder("{query.}")),
        ("/a/{query.a.b}", .badPlaceholder("{query.a.b}")),
        ("/a/{header.a.b}", .badPlaceholder("{header.a.b}")),
        ("/a/{body..x}", .badPlaceholder("{body..x}")),
        ("/a/{foo.bar}", .badPlaceholder("{foo.bar}")),
    ] as [(String, PathTemplate.ParseError)])
    func parseErrors(text: String, expected: PathTemplate.ParseError) {
        #expect(throws: expected) { try PathTemplate(parsing: text) }
    }

    @Test(arguments: [
        ("abc-._~", "abc-._~"), ("a b", "a%20b"), ("é", "%C3%A9"), ("a?b#c", "a%3Fb%23c"), ("%", "%25"),
        ("a:b@c!$&'()*+,;=", "a:b@c!$&'()*+,;="), ("a/b", "a/b"),
    ] as [(String, String)])
    func percentEncoding(raw: String, encoded: String) {
        #expect(percentEncodeSegment(raw.utf8) == encoded)
    }
}

@Suite struct JSONValueTests {
    @Test func parseAndWalk() throws {
        let v = try #require(JSONValue.parse(Array(#"{"a": {"b": [1, 2]}, "n": 42, "f": 1.5, "s": "x", "t": false, "z": null}"#.utf8)))
        #expect(v.value(at: ["a", "b"]) == .array([.integer(1), .integer(2)]))
        #expect(v.value(at: ["n"])?.scalarText == "42")
        #expect(v.value(at: ["f"])?.scalarText == "1.5")
        #expect(v.value(at: ["s"])?.scalarText == "x")
        #expect(v.value(at: ["t"])?.scalarText == "false")
        #expect(v.value(at: ["z"]) == .null)
        #expect(v.value(at: ["z"])?.scalarText == nil)
        #expect(v.value(at: ["a"])?.scalarText == nil)
        #expect(v.value(at: ["a", "b", "0"]) == nil)      // arrays are not walked
        #expect(v.value(at: ["missing"]) == nil)
        #expect(v.value(at: [String]()) == v)
        #expect(JSONValue.parse(Array("{not json".utf8)) == nil)
        #expect(JSONValue.parse(Array("-3".utf8))?.scalarText == "-3")
    }

    @Test(arguments: [("1", "a number"), ("true", "a boolean"), ("\"s\"", "a string"), ("[]", "an array"), ("{}", "an object"), ("null", "null")] as [(String, String)])
    func typeNames(json: String, name: String) throws {
        #expect(try #require(JSONValue.parse(Array(json.utf8))).typeName == name)
    }
}
