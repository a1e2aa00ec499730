import Foundation
import Subprocess
import Synchronization
import VPCNetCore

/// A kubeconfig exec credential plugin (`client.authentication.k8s.io/v1` and `v1beta1`), such as
/// `aws eks get-token`: the command prints an `ExecCredential` whose `status.token` is the bearer
/// token. Tokens are cached until a minute before `status.expirationTimestamp`; calls that find no
/// valid token share one run of the command.
public final class ExecCredentialPlugin: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var apiVersion: String
        /// Run as given when it contains a `/` (relative to the kubeconfig's folder), else looked up on PATH.
        public var command: String
        public var arguments: [String]
        public var environment: [String: String]
        public var installHint: String?

        public init(apiVersion: String = "client.authentication.k8s.io/v1", command: String, arguments: [String] = [],
                    environment: [String: String] = [:], installHint: String? = nil) {
            self.apiVersion = apiVersion
            self.command = command
            self.arguments = arguments
            self.environment = environment
            self.installHint = installHint
        }

        static let supportedVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

        init(kubeconfig value: Any, directory: String, user: String) throws {
            guard let body = value as? [String: Any], let command = body["command"] as? String, !command.isEmpty else {
                throw KubeConfigError("user \"\(user)\": exec needs a command")
            }
            let apiVersion = body["apiVersion"] as? String ?? ""
            guard Self.supportedVersions.contains(apiVersion) else {
                throw KubeConfigError("user \"\(user)\": exec apiVersion \"\(apiVersion)\" is not supported (use \(Self.supportedVersions.joined(separator: " or ")))")
            }
            var environment: [String: String] = [:]
            for entry in body["env"] as? [[String: Any]] ?? [] {
                guard let name = entry["name"] as? String, let value = entry["value"] as? String else {
                    throw KubeConfigError("user \"\(user)\": every exec env entry needs a name and a value")
                }
                environment[name] = value
            }
            let resolved = command.contains("/") && !command.hasPrefix("/") ? (directory as NSString).appendingPathComponent(command) : command
            self.init(apiVersion: apiVersion, command: resolved, arguments: (body["args"] as? [Any] ?? []).map { "\($0)" },
                      environment: environment, installHint: body["installHint"] as? String)
        }
    }

    public let configuration: Configuration
    private let now: @Sendable () -> Date
    private let state = Mutex<State>(State())

    private struct State {
        var token: String?
        var expiry: Date?
        var inFlight: Task<(String, Date?), any Error>?
    }

    public init(_ configuration: Configuration, now: @escaping @Sendable () -> Date = Date.init) {
        self.configuration = configuration
        self.now = now
    }

    /// A token that is valid for at least another minute, running the command when needed.
    public func token() async throws(KubeError) -> String {
        let task: Task<(String, Date?), any Error> = state.withLock { state in
            if let token = state.token, state.expiry.map({ $0.timeIntervalSince(now()) > 60 }) ?? true {
                let expiry = state.expiry
                return Task { (token, expiry) }
            }
            if let inFlight = state.inFlight { return inFlight }
            let configuration = self.configuration
            let task = Task { try await Self.run(configuration) }
            state.inFlight = task
            return task
        }
        do {
            let (token, expiry) = try await task.value
            state.withLock { state in
                if state.inFlight == task { state.token = token; state.expiry = expiry; state.inFlight = nil }
            }
            return token
        } catch {
            state.withLock { state in if state.inFlight == task { state.inFlight = nil } }
            throw error as? KubeError ?? .transport("exec credential plugin: \(error)")
        }
    }

    /// Forgets the cached token if it is still `token` (the one the server refused): the next
    /// request runs the command again. A token fetched meanwhile by another request is kept.
    public func invalidate(ifToken token: String?) async {
        state.withLock { state in
            guard token == nil || state.token == token else { return }
            state.token = nil
            state.expiry = nil
        }
    }

    static func run(_ configuration: Configuration) async throws(KubeError) -> (String, Date?) {
        let info: JSONValue = ["apiVersion": .string(configuration.apiVersion), "kind": "ExecCredential", "spec": ["interactive": false]]
        var environment: [Environment.Key: String?] = ["KUBERNETES_EXEC_INFO": info.serialized()]
        for (name, value) in configuration.environment { environment[Environment.Key(stringLiteral: name)] = value }
        let executable: Executable = configuration.command.contains("/") ? .path(.init(configuration.command)) : .name(configuration.command)
        let hint = configuration.installHint.map { "; \($0)" } ?? ""
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(executable, arguments: Arguments(configuration.arguments),
                                              environment: .inherit.updating(environment),
                                              output: .string(limit: 1 << 20), error: .string(limit: 64 << 10))
        } catch {
            throw .transport("cannot run exec credential plugin \(configuration.command): \(error)\(hint)")
        }
        guard case .exited(0) = result.terminationStatus else {
            let detail = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500)
            throw .transport("exec credential plugin \(configuration.command) failed (\(result.terminationStatus)): \(detail)")
        }
        return try parse(result.standardOutput, expecting: configuration.apiVersion)
    }

    /// Reads the plugin's `ExecCredential` output.
    static func parse(_ output: String, expecting apiVersion: String) throws(KubeError) -> (String, Date?) {
        guard let credential = try? JSONValue(parsing: Array(output.utf8)), credential["kind"] == "ExecCredential" else {
            throw .invalidResponse("exec credential plugin did not print an ExecCredential")
        }
        guard credential["apiVersion"]?.stringValue == apiVersion else {
            throw .invalidResponse("exec credential plugin answered apiVersion \(credential["apiVersion"]?.stringValue ?? "none"), expected \(apiVersion)")
        }
        guard let token = credential.value(at: "status.token")?.stringValue, !token.isEmpty else {
            throw .invalidResponse("exec credential plugin gave no status.token (client certificates from plugins are not supported)")
        }
        var expiry: Date?
        if let stamp = credential.value(at: "status.expirationTimestamp")?.stringValue {
            guard let date = ISO8601DateFormatter().date(from: stamp) else {
                throw .invalidResponse("exec credential plugin gave an unreadable expirationTimestamp \(stamp)")
            }
            expiry = date
        }
        return (token, expiry)
    }
}
