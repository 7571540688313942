import Foundation
import SidecacheTestSupport
import SidecacheUpstream
import Testing

/// A curl lane's thread is named for operators (`top -H`): it carried the name of the
/// thread that started it.
@Suite struct CurlThreadTests {
    /// The names of this process's threads.
    private static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func aLaneThreadIsNamed() async throws {
        let client = try UpstreamClient()
        defer { client.shutdown() }
        // Named once it runs: a moment after the client starts it.
        #expect(try await eventually { Self.threadNames().contains("curl-lane-1") })
    }
}
