import Foundation
import Logging
import Synchronization

/// A long-running child of the simulator (an eni-controller replica, a node's daemon), restarted
/// with a backoff when it exits, as Kubernetes restarts a pod's container. Output goes to a log file.
public final class ChildProcess: Sendable {
    public let name: String
    let arguments: [String]
    let environment: [String: String]
    let logPath: String
    let logger: Logger
    private let state = Mutex<(process: Process?, stopping: Bool, restarts: Int)>((nil, false, 0))

    public init(name: String, arguments: [String], environment: [String: String] = [:], logPath: String, logger: Logger) {
        self.name = name
        self.arguments = arguments
        self.environment = environment
        self.logPath = logPath
        self.logger = logger
    }

    public var pid: Int32? { state.withLock { $0.process?.isRunning == true ? $0.process?.processIdentifier : nil } }
    public var restarts: Int { state.withLock { $0.restarts } }

    /// Runs (and re-runs) the process until ``stop()``.
    public func supervise() async {
        var failures = 0
        while !state.withLock({ $0.stopping }) {
            let started = ContinuousClock.now
            let status = await runOnce()
            if state.withLock({ $0.stopping }) { return }
            failures = ContinuousClock.now - started > .seconds(30) ? 1 : failures + 1
            state.withLock { $0.restarts += 1 }
            let delay = min(Duration.seconds(10), .milliseconds(250) * (1 << min(failures, 6)))
            logger.warning("\(name) exited; restarting", metadata: ["status": "\(status)", "in": "\(delay)"])
            try? await Task.sleep(for: delay)
        }
    }

    private func runOnce() async -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = FileHandle(forWritingAtPath: logPath)
        _ = try? log?.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        return await withCheckedContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                try process.run()
                state.withLock { $0.process = process }
            } catch {
                logger.error("cannot start \(name)", metadata: ["error": "\(error)"])
                process.terminationHandler = nil
                continuation.resume(returning: -1)
            }
        }
    }

    /// Stops for good: SIGTERM, then SIGKILL after `grace`.
    public func stop(grace: Duration = .seconds(5)) async {
        let process = state.withLock { state -> Process? in
            state.stopping = true
            return state.process
        }
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Kills the current process (a crash, for tests); ``supervise()`` restarts it.
    public func crash() {
        if let pid { kill(pid, SIGKILL) }
    }
}
