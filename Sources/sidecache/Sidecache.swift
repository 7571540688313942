import ArgumentParser

/// The command line. This target is the composition root: the only place that reads
/// the environment, bootstraps logging and handles signals. `main.swift` starts it.
struct Sidecache: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "sidecache",
        abstract: "A caching reverse proxy in front of an HTTP API, driven by proxy.json.",
        version: version,
        subcommands: [Run.self, Check.self, VersionCommand.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The config file.")
    var config: String = "proxy.json"
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("sidecache \(Sidecache.version)")
    }
}
