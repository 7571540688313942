#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
@testable import SidecacheConfig

/// Parses proxy.json text with `env` as the environment.
func parse(_ json: String, env: [String: String] = [:]) throws(ConfigError) -> Config {
    try ConfigLoader.parse(Data(json.utf8), environment: env)
}

/// The problems a config has; fails the test if it parses.
func problems(_ json: String, env: [String: String] = [:],
              sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigProblem] {
    do {
        _ = try parse(json, env: env)
        Issue.record("expected the config to be rejected", sourceLocation: sourceLocation)
        return []
    } catch {
        #expect(!error.problems.isEmpty, sourceLocation: sourceLocation)
        return error.problems
    }
}

/// The one problem reported at `path`, failing the test when there is not exactly one.
func problem(at path: String, in problems: [ConfigProblem], sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let found = problems.filter { $0.path == path }
    #expect(found.count == 1, "problems at \(path): \(problems)", sourceLocation: sourceLocation)
    return found.first?.message
}

let minimal = #"{"upstream": "http://127.0.0.1:3000"}"#

/// `minimal` plus `fields` (JSON members, without braces).
func config(_ fields: String) -> String {
    #"{"upstream": "http://127.0.0.1:3000", "# + fields + "}"
}
