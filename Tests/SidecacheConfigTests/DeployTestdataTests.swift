#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
import SidecacheConfig

/// The samples in deploy/testdata, which the deploy lint also runs through the JSON
/// Schema: every valid one loads, every invalid one is refused with a problem at the
/// path deploy/testdata/invalid-expected.json records for it.
@Suite struct DeployTestdataTests {
    static let testdata = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/testdata")
    /// What the deploy kit's configs use for `${…}`.
    static let environment = ["SIDECACHE_ADMIN_TOKEN": "deploy-testdata-token-0123456789",   // 16+ characters: weak tokens are refused
                              "JWT_SECRET": "deploy-testdata-secret-0123456789abcdef"]

    static func samples(_ folder: String) -> [String] {
        let dir = testdata.appendingPathComponent(folder).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
    }

    static func load(_ folder: String, _ name: String) throws(ConfigError) -> Config {
        let data = (try? Data(contentsOf: testdata.appendingPathComponent(folder).appendingPathComponent(name))) ?? Data()
        return try ConfigLoader.parse(data, environment: environment)
    }

    static func expectedPaths() throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(contentsOf: testdata.appendingPathComponent("invalid-expected.json")))
    }

    @Test func samplesAreThere() throws {
        #expect(Self.samples("valid").count >= 5)
        #expect(Self.samples("invalid").count >= 5, "the invalid samples' test would run no case")
        #expect(Set(Self.samples("invalid")) == Set(try Self.expectedPaths().keys), "invalid/ and invalid-expected.json list different files")
    }

    @Test(arguments: samples("valid"))
    func validSampleLoads(_ name: String) {
        #expect(throws: Never.self) { _ = try Self.load("valid", name) }
    }

    @Test(arguments: samples("invalid"))
    func invalidSampleIsRefusedAtItsPath(_ name: String) throws {
        let expected = try #require(try Self.expectedPaths()[name], "\(name) is not in invalid-expected.json")
        do {
            _ = try Self.load("invalid", name)
            Issue.record("\(name) loaded; expected a problem at \"\(expected)\"")
        } catch {
            #expect(error.problems.map(\.path) == [expected], "\(error.problems)")
        }
    }
}
