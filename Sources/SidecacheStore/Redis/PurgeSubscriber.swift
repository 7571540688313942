import Logging
import NIOCore
import SidecacheCore
import Synchronization

/// `consistency: fast`: listens on the purge channel and hands every purge published
/// by any instance to `onPurge` (scope ids), so L1 entries elsewhere go at once.
/// After every (re)subscribe it reports `onResubscribe`: messages may have been
/// missed meanwhile, so the caller drops its whole L1.
public final class PurgeSubscriber: Sendable {
    private let endpoint: RedisEndpoint
    private let tls: RedisTLS?
    private let channelName: String
    private let loop: any EventLoop
    private let logger: Logger
    private let onPurge: @Sendable ([UInt64]) -> Void
    private let onResubscribe: @Sendable () -> Void
    private let current = Mutex<(connection: RedisConnection?, stopped: Bool)>((nil, false))

    public init(endpoint: RedisEndpoint, tls: RedisTLS? = nil, prefix: String, loop: any EventLoop, logger: Logger,
                onPurge: @escaping @Sendable ([UInt64]) -> Void, onResubscribe: @escaping @Sendable () -> Void) {
        self.endpoint = endpoint
        self.tls = tls
        self.channelName = RedisKeys(prefix: prefix).channel
        self.loop = loop
        self.logger = logger
        self.onPurge = onPurge
        self.onResubscribe = onResubscribe
    }

    public func start() { subscribe(attempt: 0) }

    public func stop() {
        current.withLock { c in
            c.stopped = true
            return c.connection
        }?.close()
    }

    private func subscribe(attempt: Int) {
        guard !current.withLock({ $0.stopped }) else { return }
        let onPurge = self.onPurge
        RedisMaster.locate(endpoint, tls: tls, on: loop, timeout: .seconds(1)).flatMap { [tls, loop] target in
            RedisConnection.connect(to: target, tls: tls, on: loop, timeout: .seconds(1)) { push in
                // ["message", channel, "hex,hex,..."]
                guard let parts = push.array, parts.count == 3, parts[0].text == "message", let payload = parts[2].text else { return }
                onPurge(payload.split(separator: ",").compactMap { UInt64($0, radix: 16) })
            }
        }.flatMap { [self] connection in
            connection.send([["SUBSCRIBE", .text(channelName)]], timeout: .seconds(1)).map { _ in connection }
        }.whenComplete { [self] result in
            switch result {
            case .success(let connection):
                current.withLock { $0.connection = connection }
                onResubscribe()
                connection.channel.closeFuture.whenComplete { [self] _ in
                    guard !current.withLock({ $0.stopped }) else { return }
                    logger.warning("purge subscription lost; resubscribing")
                    retry(attempt: 0)
                }
            case .failure:
                retry(attempt: attempt + 1)
            }
        }
    }

    private func retry(attempt: Int) {
        let delay = min(2000, 50 << min(attempt, 6))
        loop.scheduleTask(in: .milliseconds(Int64(delay))) { [self] in subscribe(attempt: attempt) }
    }
}
