import Logging
import NIOCore

extension RedisStore {
    /// With Sentinel, a subscription to a sentinel's `+switch-master`: it names the new
    /// master at once, even while the old one is still up (demoted, still answering
    /// reads), and every connection then goes and asks again. Without Sentinel, nil.
    static func watchFailovers(_ options: SharedTierOptions, link: RedisLink, loop: any EventLoop,
                               logger: Logger) -> RedisSubscription? {
        guard let sentinel = options.endpoint.sentinel else { return nil }
        let endpoint = options.endpoint, tls = options.tls
        return RedisSubscription(
            channel: "+switch-master", loop: loop, logger: logger,
            connect: { loop, onPush in
                RedisMaster.connectToSentinel(endpoint, tls: tls, on: loop, timeout: .seconds(1), onPush: onPush)
            },
            onMessage: { payload in
                // "<master> <old ip> <old port> <new ip> <new port>"
                let words = payload.split(separator: " ")
                guard words.count == 5, words[0] == sentinel.master else { return }
                logger.notice("sentinel switched master; reconnecting", metadata: ["master": "\(words[3]):\(words[4])"])
                link.reconnectAll()
            },
            onSubscribed: {})
    }
}
