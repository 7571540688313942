import Logging
import ServiceLifecycle
import SidecacheServer
import UnixSignals

/// SIGHUP: reload the config file, as a service of the proxy's group. Added after the
/// proxy's parts, so it is the first to stop: no reload runs during a drain.
///
/// Named by its `description` alone: the service group logs its services at debug,
/// and the derived description printed `environment`, admin token and secrets included.
struct ReloadOnHangup: Service, CustomStringConvertible {
    let server: ProxyServer
    let file: String
    let environment: [String: String]
    let logger: Logger

    var description: String { "reload-on-SIGHUP" }

    func run() async throws {
        // Waits on the signal (a Dispatch source); ends with the group's graceful shutdown.
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading", metadata: ["file": "\(file)"])
            _ = await server.reload(from: file, environment: environment)
        }
    }
}
