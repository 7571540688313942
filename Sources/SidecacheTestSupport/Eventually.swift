/// Polls `condition` every 20 ms until it returns true or `timeout` passes.
///
/// Returns whether the condition became true, so a test can write
/// `#expect(try await eventually { origin.totalCount == 1 })`.
/// Errors thrown by the condition propagate at once.
public func eventually(
    timeout: Duration = .seconds(10),
    _ condition: @Sendable () async throws -> Bool
) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}
