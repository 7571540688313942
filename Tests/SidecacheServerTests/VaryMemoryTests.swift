import Testing
@testable import SidecacheServer

@Suite struct VaryMemoryTests {
    @Test func aRouteLearnsUpToItsBoundAndNoMore() {
        let memory = VaryMemory()
        #expect(memory.learn(["x-a", "x-b"], route: "r"))
        #expect(memory.learn(["x-b", "x-c"], route: "r"))
        #expect(memory.headers(for: "r") == ["x-a", "x-b", "x-c"])
        #expect(!memory.learn((0..<6).map { "x-\($0)" }, route: "r"), "3 + 6 names is past the bound of 8")
        #expect(memory.headers(for: "r") == ["x-a", "x-b", "x-c"], "a refused list teaches nothing")
        #expect(memory.headers(for: "other").isEmpty)
    }

    /// The Vary audit's: instances that learned the same names in another order keyed
    /// one variant two ways, and never shared its entry in Redis.
    @Test func theOrderOfLearningDoesNotChangeTheKeyOrder() {
        let one = VaryMemory(), other = VaryMemory()
        one.learn(["x-tier"], route: "r")
        one.learn(["x-lang"], route: "r")
        other.learn(["x-lang", "x-tier"], route: "r")
        #expect(one.headers(for: "r") == ["x-lang", "x-tier"] && other.headers(for: "r") == one.headers(for: "r"))
    }

    /// An upstream answer whose `Vary` lists 20 000 names: refused at once. The merge was
    /// quadratic, under the lock every cache request takes: 9 000 names held every event
    /// loop for two seconds (debug), on every miss of that URL. The bound is far above
    /// what the refusal takes (microseconds) and far below the old merge (seconds).
    @Test func aHugeVaryListIsRefusedWithoutHoldingTheLock() {
        let memory = VaryMemory()
        let names = (0..<20_000).map { "x-header-\($0)" }
        let started = ContinuousClock.now
        #expect(!memory.learn(names, route: "r"))
        #expect(ContinuousClock.now - started < .milliseconds(500))
        #expect(memory.headers(for: "r").isEmpty)
    }
}
