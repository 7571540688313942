import Logging
import ServiceLifecycle
import SidecacheServer
import UnixSignals

/// SIGHUP: reload the config file, as a service of the proxy's group. Added after the
/// proxy's parts, so it is the first to stop: no reload runs during a drain.
struct ReloadOnHangup: Service {
    let server: ProxyServer
    let file: String
    let environment: [String: String]
    let logger: Logger

    func run() async throws {
        // Waits on the signal (a Dispatch source); ends with the group's graceful shutdown.
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP: reloading", metadata: ["file": "\(file)"])
            _ = await server.reload(from: file, environment: environment)
        }
    }
}
