import Foundation
import Testing
@testable import SidecacheServer

/// A thread's slot holds one object for the thread's life, its own, and lets it go when
/// the thread ends: the per-thread compressors and answer buffers rely on all three.
@Suite struct ThreadSlotTests {
    final class Object {}

    /// What one new thread saw: its object on two reads, how many it made, and a weak
    /// reference to it, to read after the thread has ended.
    private struct Seen: @unchecked Sendable {
        var first: ObjectIdentifier
        var second: ObjectIdentifier
        var made: Int
        weak var object: Object?
    }

    /// Reads `slot` twice on a new thread, which then waits for `leave` before it ends.
    private static func onANewThread(_ slot: ThreadSlot<Object>, leave: DispatchSemaphore? = nil) async -> Seen {
        await withCheckedContinuation { done in
            Thread {
                var made = 0
                let first = slot.value { made += 1; return Object() }
                let second = slot.value { made += 1; return Object() }
                done.resume(returning: Seen(first: ObjectIdentifier(first), second: ObjectIdentifier(second), made: made, object: first))
                leave?.wait()
            }.start()
        }
    }

    @Test func aThreadKeepsItsObjectAndThreadsHaveTheirOwn() async {
        let slot = ThreadSlot<Object>()
        let leave = DispatchSemaphore(value: 0)
        // Both threads are alive when their objects are compared: a freed object's
        // address may be given to the next.
        let one = await Self.onANewThread(slot, leave: leave)
        let other = await Self.onANewThread(slot, leave: leave)
        #expect(one.made == 1 && one.first == one.second)
        #expect(other.made == 1 && other.first == other.second)
        #expect(one.first != other.first)
        leave.signal()
        leave.signal()
    }

    @Test func aThreadsObjectIsReleasedWhenTheThreadEnds() async throws {
        let slot = ThreadSlot<Object>()
        let seen = await Self.onANewThread(slot)
        // The key's destructor runs as the thread exits, a moment after it answered.
        let deadline = Date().addingTimeInterval(10)
        while seen.object != nil && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(seen.object == nil)
    }
}
