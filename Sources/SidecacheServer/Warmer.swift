import Logging
import SidecacheConfig
import Synchronization

/// Keeps `warm` entries filled: each target is fetched at start and then every
/// `every` (±10 % jitter, so instances do not fetch in lockstep), even while its entry
/// is still fresh. One task per target runs fetch, then sleep, so a target never
/// overlaps itself; a slow fetch delays the next one instead of stacking up. Failures
/// are logged and never fatal; after one the next try comes sooner (at most
/// `retryAfterFailure`), so a warm path does not stay cold for a whole `every`
/// because the upstream was briefly down. Schedules run on `clock`, which tests move.
final class Warmer: Sendable {
    static let retryAfterFailure: Duration = .seconds(30)
    /// Fetches under way at once, across targets: a list of 1 500 fetched together
    /// opened 1 373 upstream connections in a second, ran the process out of
    /// descriptors, and clients got no answer for seconds (the warm audit's). The rest
    /// wait their turn (revalidations are bounded the same way, at 64).
    static let maxFetching = 16

    typealias Fetch = @Sendable (WarmTarget) async throws -> Void

    /// What a fetch throws when the upstream answered but nothing was stored (`no-store`,
    /// `private`, too large…): the target is as cold as before, which an operator who
    /// listed it wants to hear, and not a failure to retry sooner.
    struct NotStored: Error {
        var status: Int
        /// The refresh's `Cache-Status`, whose `detail` says why.
        var cacheStatus: String
    }

    private let fetch: Fetch
    /// Starts a period now; the function it returns sleeps until `period` after that.
    private let startPeriod: @Sendable () -> @Sendable (Duration) async throws -> Void
    private let jitter: @Sendable () -> Double
    private let logger: Logger
    private let running = Mutex<[(target: WarmTarget, task: Task<Void, Never>)]>([])
    private let gate = FetchGate(limit: maxFetching)

    init<C: Clock<Duration>>(fetch: @escaping Fetch, clock: C,
                             jitter: @escaping @Sendable () -> Double = { Double.random(in: 0.9...1.1) }, logger: Logger) {
        self.fetch = fetch
        self.startPeriod = {
            let began = clock.now
            return { period in try await clock.sleep(until: began.advanced(by: period), tolerance: nil) }
        }
        self.jitter = jitter
        self.logger = logger
    }

    /// Runs exactly `targets`: keeps the schedules of targets already running unchanged,
    /// starts new ones (fetching at once), cancels the ones no longer listed. Used at
    /// start and on every reload.
    func run(_ targets: [WarmTarget]) {
        let cancelled = running.withLock { running -> [Task<Void, Never>] in
            var keep: [(target: WarmTarget, task: Task<Void, Never>)] = []
            var drop: [Task<Void, Never>] = []
            var wanted = targets
            for r in running {
                if let i = wanted.firstIndex(of: r.target) {
                    wanted.remove(at: i)
                    keep.append(r)
                } else {
                    drop.append(r.task)
                }
            }
            for target in wanted { keep.append((target, schedule(target))) }
            running = keep
            return drop
        }
        for task in cancelled { task.cancel() }
    }

    /// Cancels every schedule. A fetch under way is not awaited: it is a fill like a
    /// client's, so the listener's drain bounds it and the upstream's stop ends it.
    func stop() { run([]) }

    private func schedule(_ target: WarmTarget) -> Task<Void, Never> {
        Task { [self] in await repeatFetching(target) }
    }

    private func repeatFetching(_ target: WarmTarget) async {
        while !Task.isCancelled {
            let sleep = startPeriod()
            var period = target.every
            var failed = false
            do {
                // A target dropped (a reload, the stop) while it waited for the gate fetches
                // nothing: queued, it would hold the new targets back.
                try await gate.run {
                    try Task.checkCancellation()
                    try await fetch(target)
                }
                logger.debug("warmed", metadata: ["path": "\(target.path)"])
            } catch let notStored as NotStored {
                // The upstream's answer, as it will be next time: trying sooner only loads it.
                logger.warning("warm answer not stored; clients will miss", metadata: [
                    "path": "\(target.path)", "status": "\(notStored.status)", "cacheStatus": "\(notStored.cacheStatus)"])
            } catch {
                // Failed because the warmer stopped (the upstream shut down under it): not worth a warning.
                if Task.isCancelled { return }
                period = min(period, Self.retryAfterFailure)
                failed = true
                logger.warning("warming failed; retrying", metadata: ["path": "\(target.path)", "error": "\(error)",
                                                                     "in": "\(period)"])
            }
            // README: a failure is tried again "after at most 30 s"; its jitter only shortens that.
            try? await sleep(failed ? min(period * jitter(), Self.retryAfterFailure) : period * jitter())
        }
    }
}
