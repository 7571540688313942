import NIOCore
import NIOEmbedded
import SidecacheCore
import Testing
@testable import SidecacheStore

/// The journal keeps what could not reach Redis, and decides when the store schedules a
/// replay retry: one timer at a time, backing off further with each failure in a row,
/// from the start again once a replay lands.
@Suite struct PurgeJournalTests {
    @Test func keepsScopesOnceInOrder() {
        var j = PurgeJournal(capacity: 10)
        #expect(j.isSettled)
        j.add([3, 1, 3])
        j.add([2, 1])
        #expect(j.scopes == [3, 1, 2])
        let drained = j.drain()
        #expect(drained.scopes == [3, 1, 2] && !drained.all)
        #expect(j.isEmpty)
    }

    @Test func overflowBecomesPurgeEverything() {
        var j = PurgeJournal(capacity: 3)
        j.add([1, 2, 3, 4])
        let drained = j.drain()
        #expect(drained.all && drained.scopes.isEmpty)
    }

    @Test func aReplayInFlightKeepsReadsOff() {
        var j = PurgeJournal()
        j.add([1])
        j.replaying += 1
        _ = j.drain()
        #expect(j.isEmpty && !j.isSettled)
        j.putBack((scopes: [1], all: false))
        j.replaying -= 1
        #expect(j.scopes == [1])
    }

    @Test func oneRetryAtATimeWithGrowingBackoff() {
        var j = PurgeJournal()
        #expect(j.armRetry() == nil)          // nothing journaled: nothing to retry
        j.add([1, 2])
        #expect(j.armRetry() == 1)
        #expect(j.armRetry() == nil)          // a retry is already scheduled
        j.retryFired()
        j.putBack(j.drain())                  // the retry's replay failed too
        #expect(j.armRetry() == 3)            // failures in a row back off further
        j.retryFired()
        _ = j.drain()
        j.replaying += 1
        j.replayed()
        #expect(j.isSettled)
        j.add([3])
        #expect(j.armRetry() == 1)            // Redis answered in between: from the start
    }
}

/// What calls for the fence of a purge Redis refuses for want of memory
/// (`RedisStore.fence(after:)`), whichever Redis and whichever node said it.
@Suite struct PurgeRefusalTests {
    @Test func outOfMemoryIsReadInEitherRedisSpelling() {
        let redis7 = "OOM command not allowed when used memory > 'maxmemory'. script: 2a81…, on @user_script:2."
        let redis6 = "ERR Error running script (call to f_2a81…): @user_script:2: -OOM command not allowed when used memory > 'maxmemory'."
        #expect(RedisStore.refusedForMemory(RedisFailure.replyError(redis7)))
        #expect(RedisStore.refusedForMemory(RedisFailure.replyError(redis6)), "Redis 6 wraps a script's refusal")
        #expect(!RedisStore.refusedForMemory(RedisFailure.replyError("MISCONF Redis is configured to save RDB snapshots")))
        #expect(!RedisStore.refusedForMemory(RedisFailure.timeout))
    }

    /// Over several nodes, an `-OOM` from one is reported over another's timeout (which
    /// `andAllSucceed` reported when it came first, and the fence never ran).
    @Test func aRefusalForMemoryOutranksOtherFailures() throws {
        let loop = EmbeddedEventLoop()
        let oom = RedisFailure.replyError("OOM command not allowed when used memory > 'maxmemory'.")
        let futures: [EventLoopFuture<Int>] = [loop.makeFailedFuture(RedisFailure.timeout), loop.makeSucceededFuture(1),
                                               loop.makeFailedFuture(oom)]
        #expect(throws: oom) { try RedisStore.allSucceeded(futures, on: loop).wait() }
        #expect(try RedisStore.allSucceeded([loop.makeSucceededFuture(1), loop.makeSucceededFuture(2)], on: loop).wait() == [1, 2])
        #expect(throws: RedisFailure.timeout) { try RedisStore.allSucceeded([loop.makeFailedFuture(RedisFailure.timeout), loop.makeSucceededFuture(2)], on: loop).wait() }
    }

    /// A replay carries what fits in `store.timeout` (a cluster's 64 stripes make each
    /// scope 128 scripts: 60 in one replay timed out every time); the rest wait for the
    /// next, in order, and an overflowed journal is one replay of everything.
    @Test func aReplayTakesAChunkAndLeavesTheRest() {
        #expect(RedisStore.replayChunk(stripes: 64) == 8)
        #expect(RedisStore.replayChunk(stripes: 1) == 512)
        var journal = PurgeJournal()
        journal.add(Array(1...20))
        #expect(journal.drain(limit: 8).scopes == Array(1...8))
        journal.add([3, 9])   // 3 is new again; 9 is still waiting
        #expect(journal.drain(limit: 8).scopes == Array(9...16))
        #expect(journal.drain(limit: 8).scopes == [17, 18, 19, 20, 3])
        #expect(journal.isEmpty)
        var full = PurgeJournal(capacity: 4)
        full.add(Array(1...5))
        #expect(full.drain(limit: 2) == (scopes: [], all: true))
        #expect(full.isEmpty)
    }
}
