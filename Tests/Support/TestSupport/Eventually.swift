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
