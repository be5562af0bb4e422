/// Polls `condition` until it holds or `limit` passes; whether it came true.
public func within(_ limit: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    repeat {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(5))
    } while ContinuousClock.now < deadline
    return try await condition()
}
