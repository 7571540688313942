import Logging
import NIOCore
import SidecacheCore

/// `consistency: fast`: listens on the purge channel and hands every purge published
/// by any instance to `onPurge` (scope ids, and the time of a soft purge), so L1
/// entries elsewhere go (or turn stale) at once.
/// After every (re)subscribe it reports `onResubscribe`: messages may have been
/// missed meanwhile, so the caller drops its whole L1.
final class PurgeSubscriber: Sendable {
    private let subscription: RedisSubscription

    init(endpoint: RedisEndpoint, tls: RedisTLS? = nil, prefix: String, loop: any EventLoop, logger: Logger,
         onPurge: @escaping @Sendable (PurgeMessage) -> Void, onResubscribe: @escaping @Sendable () -> Void) {
        subscription = RedisSubscription(
            channel: RedisKeys(prefix: prefix).channel, loop: loop, logger: logger,
            connect: { loop, onPush in
                RedisMaster.connectForSubscription(endpoint, tls: tls, on: loop, timeout: .seconds(1), onPush: onPush)
            },
            onMessage: { payload in onPurge(PurgeMessage(payload: payload)) },
            onSubscribed: onResubscribe)
    }

    func start() { subscription.start() }
    func stop() { subscription.stop() }
}
