import Testing

/// Polls `condition` until it holds; records a test failure (instead of hanging) and throws after
/// `seconds`. A bound against hangs, not a timed assertion: conditions are expected to hold early.
public func eventually(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("never happened: \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// Runs `body`, then `teardown` whether `body` returned or threw: an awaited `defer` for
/// fixtures whose clean-up is asynchronous (servers, clients, agents).
public func withTeardown<T>(_ body: () async throws -> T, teardown: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await teardown()
        throw error
    }
    await teardown()
    return result
}
