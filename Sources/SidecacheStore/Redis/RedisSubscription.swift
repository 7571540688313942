import Logging
import NIOCore
import Synchronization

/// One SUBSCRIBE kept alive on one event loop: connect (where `connect` says), subscribe,
/// hand every message's payload to `onMessage`; when the connection goes, report
/// `onLost`, reconnect with backoff and report `onSubscribed` again (messages may have
/// been missed meanwhile).
///
/// The connection is asked `PING` every `probeEvery`, and closed (so subscribed again)
/// when no answer comes within `probeTimeout` (long enough for a fork or a slow script:
/// a resubscription drops every fast instance's L1): a frozen server (SIGSTOP, a hung host
/// whose kernel still answers) keeps the connection and TCP's keepalives alive, and a
/// subscription there heard nothing while the purges and fill notices went to the
/// master a failover had promoted — fast instances served purged entries for good.
final class RedisSubscription: Sendable {
    typealias Connect = @Sendable (_ loop: any EventLoop, _ onPush: @escaping @Sendable (RedisValue) -> Void)
        -> EventLoopFuture<RedisConnection>

    private let channel: String
    private let loop: any EventLoop
    private let logger: Logger
    private let connect: Connect
    private let onMessage: @Sendable (String) -> Void
    private let onSubscribed: @Sendable () -> Void
    private let onLost: @Sendable () -> Void
    private let current = Mutex<(connection: RedisConnection?, stopped: Bool)>((nil, false))
    private let probeEvery: TimeAmount
    private let probeTimeout: TimeAmount

    init(channel: String, loop: any EventLoop, logger: Logger, connect: @escaping Connect,
         onMessage: @escaping @Sendable (String) -> Void, onSubscribed: @escaping @Sendable () -> Void,
         onLost: @escaping @Sendable () -> Void = {},
         probeEvery: TimeAmount = .seconds(5), probeTimeout: TimeAmount = .seconds(5)) {
        self.probeEvery = probeEvery
        self.probeTimeout = probeTimeout
        self.channel = channel
        self.loop = loop
        self.logger = logger
        self.connect = connect
        self.onMessage = onMessage
        self.onSubscribed = onSubscribed
        self.onLost = onLost
    }

    func start() { subscribe(attempt: 0) }

    func stop() {
        current.withLock { c in
            c.stopped = true
            return c.connection
        }?.close()
    }

    private func subscribe(attempt: Int) {
        guard !current.withLock({ $0.stopped }) else { return }
        let onMessage = self.onMessage
        connect(loop) { push in
            // ["message", channel, payload]
            guard let parts = push.array, parts.count == 3, parts[0].text == "message", let payload = parts[2].text else { return }
            onMessage(payload)
        }.flatMap { [channel] connection in
            // An error reply (an ACL without the channel) is no subscription, and a
            // connection whose SUBSCRIBE failed is closed: left open, it would subscribe
            // when a slow server got to it, one more with each retry.
            connection.send([["SUBSCRIBE", .text(channel)]], timeout: .seconds(1)).flatMapThrowing { replies -> RedisConnection in
                if let refused = replies.first(where: \.isError) { throw RedisFailure.replyError(refused.errorMessage ?? "\(refused)") }
                return connection
            }.flatMapErrorThrowing { error -> RedisConnection in
                connection.close()
                throw error
            }
        }.whenComplete { [self] result in
            switch result {
            case .success(let connection):
                current.withLock { $0.connection = connection }
                onSubscribed()
                probe(connection)
                connection.channel.closeFuture.whenComplete { [self] _ in
                    guard !current.withLock({ $0.stopped }) else { return }
                    logger.warning("redis subscription lost; resubscribing", metadata: ["channel": "\(channel)"])
                    onLost()
                    retry(attempt: 0)
                }
            case .failure(let error):
                if attempt == 0 { logger.warning("redis subscription failed; retrying", metadata: ["channel": "\(channel)", "error": "\(error)"]) }
                retry(attempt: attempt + 1)
            }
        }
    }

    private func probe(_ connection: RedisConnection) {
        loop.scheduleTask(in: probeEvery) { [self] in
            guard current.withLock({ !$0.stopped && $0.connection === connection }) else { return }
            connection.send([["PING"]], timeout: probeTimeout).whenComplete { [self] result in
                guard case .failure(let error) = result else { return probe(connection) }
                guard !current.withLock({ $0.stopped }) else { return }
                logger.warning("redis subscription unanswered; resubscribing", metadata: ["channel": "\(channel)", "error": "\(error)"])
                connection.close()   // its close resubscribes
            }
        }
    }

    private func retry(attempt: Int) {
        loop.scheduleTask(in: .milliseconds(Int64(min(2000, 50 << min(attempt, 6))))) { [self] in subscribe(attempt: attempt) }
    }
}
