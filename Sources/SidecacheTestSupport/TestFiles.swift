import Foundation

/// Files a test writes for a process it starts or a config it loads, kept in one folder
/// per test process that goes when the process exits: runs no longer leave their
/// configs in the temporary directory (a dozen per run of the server suite).
public enum TestFiles {
    private static let folder: String = {
        let path = NSTemporaryDirectory() + "sidecache-tests-\(getpid())/"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { TestFiles.removeFolder() }
        return path
    }()

    /// Writes `text` to a new JSON file whose name starts with `prefix`, and returns its path.
    public static func write(_ text: String, prefix: String) throws -> String {
        let path = folder + "\(prefix)-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private static func removeFolder() {
        try? FileManager.default.removeItem(atPath: folder)
    }
}
