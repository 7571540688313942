import Foundation
import Glibc
import SidecacheUpstream
import Testing

/// A curl lane's thread is named for operators (`top -H`) and runs in the batch
/// scheduling class, so an event loop's hand-over does not take the CPU from the loop.
@Suite struct CurlThreadTests {
    /// The ids and names of this process's threads.
    private static func threads() -> [(id: Int32, name: String)] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            guard let id = Int32(task),
                  let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8) else { return nil }
            return (id, name.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    @Test func aLaneThreadIsNamedAndRunsAsBatch() async throws {
        let client = try UpstreamClient()
        defer { client.shutdown() }
        // Other suites' clients run lanes too: every one named so must be batch. A lane
        // is named only once its class is set, so none is caught between the two.
        var lanes: [(id: Int32, name: String)] = []
        let deadline = Date().addingTimeInterval(10)
        while lanes.isEmpty && Date() < deadline {
            lanes = Self.threads().filter { $0.name.hasPrefix("curl-lane-") }
            if lanes.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(!lanes.isEmpty)
        let batch: Int32 = 3   // SCHED_BATCH
        for lane in lanes {
            #expect(sched_getscheduler(lane.id) == batch, "\(lane.name) (thread \(lane.id))")
        }
    }
}
