import Foundation
import Testing
@testable import SidecacheConfig

/// deploy/proxy.schema.json and the loader name the same keys: a key added to one and
/// not the other is a key editors are told about that the loader refuses, or the other
/// way round.
@Suite struct SchemaKeysTests {
    static let schemaFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/proxy.schema.json")

    /// Where each of the loader's key lists applies ("routes[]": every item of routes).
    static let loaderObjects: [(path: String, keys: [String])] = [
        ("", ConfigKeys.top), ("store", ConfigKeys.store), ("defaults", ConfigKeys.policy),
        ("routes[]", ConfigKeys.route), ("routes[].key", ConfigKeys.routeKey), ("routes[].paths", ConfigKeys.routePaths),
        ("purge[]", ConfigKeys.purgeRule), ("warm[]", ConfigKeys.warmTarget), ("admin", ConfigKeys.admin),
        ("limits", ConfigKeys.limits), ("log", ConfigKeys.log), ("auth", ConfigKeys.auth), ("auth.jwt", ConfigKeys.jwt),
        ("store.tls", ConfigKeys.storeTLS),
    ]

    static var loaderKeys: Set<String> {
        Set(loaderObjects.flatMap { object in object.keys.map { join(object.path, $0) } })
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func schema() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: schemaFile)) as? [String: Any])
    }

    /// Every key path the schema declares under `properties`, following `$ref` into
    /// `$defs`, `items` (as "[]") and `anyOf`/`oneOf`/`allOf`. `if`/`then`/`else`/`not`
    /// only constrain keys declared elsewhere, so they are not followed.
    static func keys(of schema: [String: Any]) -> Set<String> {
        let defs = schema["$defs"] as? [String: Any] ?? [:]
        var out: Set<String> = []
        func walk(_ node: [String: Any], _ path: String, depth: Int) {
            guard depth < 32 else { return }
            if let ref = node["$ref"] as? String, ref.hasPrefix("#/$defs/"),
               let target = defs[String(ref.dropFirst(8))] as? [String: Any] {
                walk(target, path, depth: depth + 1)
            }
            for (key, value) in node["properties"] as? [String: Any] ?? [:] {
                out.insert(join(path, key))
                if let sub = value as? [String: Any] { walk(sub, join(path, key), depth: depth + 1) }
            }
            if let items = node["items"] as? [String: Any] { walk(items, path + "[]", depth: depth + 1) }
            for combinator in ["anyOf", "oneOf", "allOf"] {
                for branch in node[combinator] as? [[String: Any]] ?? [] { walk(branch, path, depth: depth + 1) }
            }
        }
        walk(schema, "", depth: 0)
        return out
    }

    @Test func schemaAndLoaderNameTheSameKeys() throws {
        let schemaKeys = Self.keys(of: try Self.schema())
        #expect(schemaKeys.count > 40, "the schema's keys were not found")
        #expect(schemaKeys.subtracting(Self.loaderKeys).sorted() == [], "in the schema, not accepted by the loader")
        #expect(Self.loaderKeys.subtracting(schemaKeys).sorted() == [], "accepted by the loader, not in the schema")
    }

    /// The walk sees a key added to the schema alone: one in `store` whose object is
    /// behind a `$ref`, and one in the items of `warm`.
    @Test func aKeyOnOneSideIsSeen() throws {
        var schema = try Self.schema()
        var defs = schema["$defs"] as? [String: Any] ?? [:]
        defs["sentinel"] = ["type": "object", "properties": ["master": ["type": "string"]]]
        schema["$defs"] = defs
        var properties = try #require(schema["properties"] as? [String: Any])
        var store = try #require(properties["store"] as? [String: Any])
        store["properties"] = (store["properties"] as? [String: Any] ?? [:]).merging(["sentinel": ["$ref": "#/$defs/sentinel"]]) { $1 }
        properties["store"] = store
        var warm = try #require(properties["warm"] as? [String: Any])
        var items = try #require(warm["items"] as? [String: Any])
        items["properties"] = (items["properties"] as? [String: Any] ?? [:]).merging(["jitter": ["type": "string"]]) { $1 }
        warm["items"] = items
        properties["warm"] = warm
        schema["properties"] = properties
        #expect(Self.keys(of: schema).subtracting(Self.loaderKeys) == ["store.sentinel", "store.sentinel.master", "warm[].jitter"])
    }
}
