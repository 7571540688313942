import ArgumentParser
import Dispatch
import Foundation
import Logging
import SidecacheConfig
import SidecacheServer

/// `sidecache run`: serve until SIGTERM/SIGINT, then drain and exit 0.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Serve the config.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        // A write to a socket the peer closed must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let config = try loadConfig(options.config)
        bootstrapLogging(config.log)
        let logger = Logger(label: "sidecache")
        let server: ProxyServer
        do {
            server = try ProxyServer(config: config, logger: logger)
            try await server.start()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
        let signal = await Signals.next([SIGTERM, SIGINT])
        logger.info("draining", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
        await server.shutdown(grace: .seconds(10))
    }
}

/// Process signals as async values, through Dispatch (never a raw handler).
enum Signals {
    static func next(_ signals: [Int32]) async -> Int32 {
        let queue = DispatchQueue(label: "sidecache.signals")
        let box = SourceBox()
        return await withCheckedContinuation { continuation in
            let once = OnceFlag()
            for sig in signals {
                Foundation.signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: sig) }
                }
                source.resume()
                box.sources.append(source)
            }
        }
    }

    private final class SourceBox: @unchecked Sendable {
        var sources: [any DispatchSourceSignal] = []   // kept alive while waiting; touched once before waiting
    }

    private final class OnceFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        func claim() -> Bool { lock.withLock { defer { done = true }; return !done } }
    }
}

func bootstrapLogging(_ log: LogConfig) {
    let level = Logger.Level(rawValue: log.level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
