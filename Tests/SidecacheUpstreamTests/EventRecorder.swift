import NIOCore
import SidecacheTestSupport
import SidecacheUpstream
import Synchronization

/// Collects one transfer's events and checks the event contract as they arrive:
/// at most one head, no body before the head, exactly one terminal event and
/// nothing after it.
///
/// By default every body chunk is reported consumed at once; with
/// `autoConsume: false` the test decides when (`consumeAll()`), which is how
/// backpressure is exercised.
final class EventRecorder: Sendable {
    private struct State {
        var head: UpstreamResponseHead?
        /// Statuses of the 1xx heads, in order.
        var interim: [Int] = []
        var body: [UInt8] = []
        var bodyEvents = 0
        var terminal: UpstreamEvent?
        var violations: [String] = []
        var unconsumed = 0
        var maxUnconsumed = 0
    }

    private let state = Mutex(State())
    private let autoConsume: Bool
    private let transfer = Mutex<UpstreamTransfer?>(nil)
    private let client = Mutex<UpstreamClient?>(nil)

    init(autoConsume: Bool = true) {
        self.autoConsume = autoConsume
    }

    /// Starts `request` on `client` with this recorder as the event sink.
    @discardableResult
    func start(_ request: UpstreamRequest, on client: UpstreamClient) -> UpstreamTransfer {
        let loop = testEventLoop
        let started = client.execute(request, on: loop) { events in
            loop.preconditionInEventLoop()
            if events.isEmpty { self.state.withLock { $0.violations.append("an empty delivery") } }
            events.forEach(self.record)
        }
        transfer.withLock { $0 = started }
        self.client.withLock { $0 = client }
        return started
    }

    private func record(_ event: UpstreamEvent) {
        // Until `start` has stored the handle, consumption waits for the next chunk.
        let transfer = self.transfer.withLock { $0 }
        var consume = 0
        state.withLock { state in
            if state.terminal != nil {
                state.violations.append("event after the terminal event: \(event)")
            }
            switch event {
            case .interim(let head):
                if state.head != nil { state.violations.append("interim head after the final one") }
                state.interim.append(head.status)
            case .head(let head):
                if state.head != nil { state.violations.append("second head") }
                if state.bodyEvents > 0 { state.violations.append("head after body") }
                state.head = head
            case .body(let buffer):
                if state.head == nil { state.violations.append("body before head") }
                state.bodyEvents += 1
                state.body.append(contentsOf: buffer.readableBytesView)
                state.unconsumed += buffer.readableBytes
                state.maxUnconsumed = max(state.maxUnconsumed, state.unconsumed)
                if autoConsume, transfer != nil {
                    consume = state.unconsumed
                    state.unconsumed = 0
                }
            case .end, .failure:
                state.terminal = event
            }
        }
        if consume > 0 { transfer?.consumed(consume) }
    }

    /// Reports every body byte received so far as consumed.
    func consumeAll() {
        let count = state.withLock { state in
            defer { state.unconsumed = 0 }
            return state.unconsumed
        }
        if count > 0 { transfer.withLock { $0 }?.consumed(count) }
    }

    var head: UpstreamResponseHead? { state.withLock { $0.head } }
    var interim: [Int] { state.withLock { $0.interim } }
    var body: [UInt8] { state.withLock { $0.body } }
    var bodyEvents: Int { state.withLock { $0.bodyEvents } }
    var terminal: UpstreamEvent? { state.withLock { $0.terminal } }
    var violations: [String] { state.withLock { $0.violations } }
    var unconsumed: Int { state.withLock { $0.unconsumed } }
    /// The most body bytes ever delivered and not yet consumed.
    var maxUnconsumed: Int { state.withLock { $0.maxUnconsumed } }

    var failure: UpstreamFailure? {
        if case .failure(let failure) = terminal { return failure }
        return nil
    }

    var ended: Bool {
        if case .end = terminal { return true }
        return false
    }

    /// Waits for the terminal event; false if none came within `timeout`. Then waits until
    /// the client has handled every command posted so far (`settle`), so that a second
    /// terminal event, or any event after the end, caused by what the test did shows up
    /// in `violations`.
    func finish(timeout: Duration = .seconds(15)) async throws -> Bool {
        guard try await eventually(timeout: timeout, { self.terminal != nil }) else { return false }
        return try await settle()
    }

    /// Waits for the terminal event only: no `settle`, whose probe transfer would take
    /// the easy handle this transfer just parked for the next one.
    func waitForTerminal(timeout: Duration = .seconds(15)) async throws -> Bool {
        try await eventually(timeout: timeout) { self.terminal != nil }
    }

    /// Returns once the client has run every command posted before this call (starts,
    /// consumes, cancels) and the test loop has run every event they caused: a probe
    /// transfer started now has ended. The curl thread runs commands in order and events
    /// reach a loop in the order they were sent, so whatever came before is recorded by
    /// then. The probe's URL has a scheme curl does not speak: it fails without touching
    /// the network (nor any origin's request counts). False if the probe never ended.
    func settle(timeout: Duration = .seconds(15)) async throws -> Bool {
        guard let client = client.withLock({ $0 }) else { return true }
        let probe = EventRecorder()
        probe.start(upstreamRequest("GET", "nope://settle.invalid/"), on: client)
        return try await eventually(timeout: timeout) { probe.terminal != nil }
    }
}
