import Foundation
import VPCNetCore

/// Requests from the short-lived commands to the running supervisor, as files in the state
/// directory (`requests/ID.request` → `requests/ID.answer`): no extra listener, and a request
/// survives until the supervisor gets to it.
public struct ClusterRequests: Sendable {
    public struct Request: Codable, Sendable {
        public var id: String
        public var action: String
        public var zone: String?

        public init(id: String, action: String, zone: String? = nil) {
            self.id = id
            self.action = action
            self.zone = zone
        }
    }

    public struct Answer: Codable, Sendable {
        public var node: String?
        public var error: String?
    }

    let directory: String

    public init(stateDirectory: String) { directory = stateDirectory + "/requests" }

    public func send(_ request: Request) throws {
        try AtomicFile.makeDirectory(directory, mode: 0o700)
        try AtomicFile.write(Array(try JSONEncoder().encode(request)), to: "\(directory)/\(request.id).request", mode: 0o600)
    }

    /// Waits for the answer to `id`.
    public func answer(to id: String, timeout: Duration) async throws -> Answer {
        let path = "\(directory)/\(id).answer"
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let bytes = try AtomicFile.read(path) {
                try? AtomicFile.remove(path)
                return try JSONDecoder().decode(Answer.self, from: Data(bytes))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ClusterControl.Failure("the cluster did not answer within \(timeout)")
    }

    func pending() -> [Request] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".request") }.sorted()
        return names.compactMap { name in
            let path = "\(directory)/\(name)"
            defer { try? AtomicFile.remove(path) }
            guard let bytes = try? AtomicFile.read(path) else { return nil }
            return try? JSONDecoder().decode(Request.self, from: Data(bytes))
        }
    }

    func answer(_ request: Request, _ answer: Answer) {
        try? AtomicFile.write(Array((try? JSONEncoder().encode(answer)) ?? Data()), to: "\(directory)/\(request.id).answer", mode: 0o600)
    }
}
