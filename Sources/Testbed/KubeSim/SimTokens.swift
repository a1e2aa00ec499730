import Synchronization

/// The set of bearer tokens a simulated API server accepts.
public final class SimTokens: Sendable {
    private let accepted: Mutex<Set<String>?>

    init(_ tokens: Set<String>?) { accepted = Mutex(tokens) }

    public func accepts(_ token: String?) -> Bool {
        accepted.withLock { accepted in accepted.map { set in token.map(set.contains) ?? false } ?? true }
    }

    public func replace(_ tokens: Set<String>?) { accepted.withLock { $0 = tokens } }

    /// One accepted token (for writing a kubeconfig), if tokens are required.
    public var any: String? { accepted.withLock { $0?.sorted().first } }
}
