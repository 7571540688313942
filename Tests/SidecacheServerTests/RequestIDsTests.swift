import Foundation
import Testing
@testable import SidecacheServer

/// Request IDs come from a per-thread generator: they must not repeat on a thread, nor
/// between threads, and keep their 16-digit form.
@Suite struct RequestIDsTests {
    @Test func oneThreadNeverRepeatsAnID() {
        var seen = Set<String>()
        for _ in 0..<100_000 { seen.insert(ForwardHeaders.newRequestID()) }
        #expect(seen.count == 100_000)
        #expect(seen.allSatisfy { $0.utf8.count == 16 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
    }

    @Test func threadsDrawDifferentIDs() async {
        let draws = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    // A thread of its own: tasks of the group may share one.
                    await withCheckedContinuation { done in
                        Thread.detachNewThread { done.resume(returning: (0..<1_000).map { _ in ForwardHeaders.newRequestID() }) }
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(draws[0]).isDisjoint(with: draws[1]))
    }
}
