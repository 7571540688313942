import ArgumentParser
import Foundation
import Logging
import SidecacheConfig
import SidecacheLogging
import SidecacheServer

/// `sidecache run`: serve until SIGTERM/SIGINT, then drain and exit 0. SIGHUP reloads
/// the config file (a bad file is logged and the running config stays).
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Serve the config.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        // A write to a socket the peer closed must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let signals = SignalStream([SIGTERM, SIGINT, SIGHUP])
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
        for await number in signals.signals {
            if number == SIGHUP {
                logger.notice("SIGHUP: reloading", metadata: ["file": "\(options.config)"])
                _ = server.reload(from: options.config, environment: ProcessInfo.processInfo.environment)
                continue
            }
            logger.info("draining", metadata: ["signal": "\(SignalStream.name(number))"])
            break
        }
        await server.shutdown(grace: .seconds(10))
    }
}

/// `log.level` and `log.format` (text: swift-log's stream handler; json: one object per
/// line), both behind `EscapingLogHandler`: no control character a client sent reaches
/// a log line raw.
func bootstrapLogging(_ log: LogConfig) {
    let level = Logger.Level(rawValue: log.level) ?? .info
    LoggingSystem.bootstrap { label in
        var handler: any LogHandler = switch log.format {
        case .json: EscapingLogHandler(JSONLogHandler(label: label))
        case .text: EscapingLogHandler(StreamLogHandler.standardError(label: label, metadataProvider: nil))
        }
        handler.logLevel = level
        return handler
    }
}
