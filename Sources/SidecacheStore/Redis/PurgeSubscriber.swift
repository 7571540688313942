import Logging
import NIOCore
import SidecacheCore

/// `consistency: fast`: listens on the purge channel and hands every purge published
/// by any instance to `onPurge` (scope ids), so L1 entries elsewhere go at once.
/// After every (re)subscribe it reports `onResubscribe`: messages may have been
/// missed meanwhile, so the caller drops its whole L1.
public final class PurgeSubscriber: Sendable {
    private let subscription: RedisSubscription

    public init(endpoint: RedisEndpoint, tls: RedisTLS? = nil, prefix: String, loop: any EventLoop, logger: Logger,
                onPurge: @escaping @Sendable ([UInt64]) -> Void, onResubscribe: @escaping @Sendable () -> Void) {
        subscription = RedisSubscription(
            channel: RedisKeys(prefix: prefix).channel, loop: loop, logger: logger,
            connect: { loop, onPush in
                RedisMaster.connectForSubscription(endpoint, tls: tls, on: loop, timeout: .seconds(1), onPush: onPush)
            },
            onMessage: { payload in onPurge(payload.split(separator: ",").compactMap { UInt64($0, radix: 16) }) },
            onSubscribed: onResubscribe)
    }

    public func start() { subscription.start() }
    public func stop() { subscription.stop() }
}
