import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SidecacheConfig
import SidecacheLogging
import SidecacheServer
import UnixSignals

/// `sidecache run`: serve until SIGTERM/SIGINT, then drain and exit 0. SIGHUP reloads
/// the config file (a bad file is logged and the running config stays).
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Serve the config.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        // A write to a socket the peer closed must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        // Nor a SIGHUP that comes before `ReloadOnHangup` traps it: the file is being read anyway.
        signal(SIGHUP, SIG_IGN)
        let config = try loadConfig(options.config)
        bootstrapLogging(config.log)
        let logger = Logger(label: "sidecache")
        do {
            let server = try ProxyServer(config: config, logger: logger)
            let reload = ReloadOnHangup(server: server, file: options.config, environment: ProcessInfo.processInfo.environment,
                                        logger: logger)
            // SIGTERM and SIGINT: the group's graceful shutdown, every part in reverse start-up order.
            try await server.serviceGroup(adding: [reload], gracefulShutdownSignals: [.sigterm, .sigint]).run()
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
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
        case .text: EscapingLogHandler(StreamLogHandler.standardError(label: label, metadataProvider: nil), quotingValues: true)
        }
        handler.logLevel = level
        return handler
    }
}
