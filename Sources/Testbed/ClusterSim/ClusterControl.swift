import Foundation
import Kubernetes
import VPCNetCore

/// What the short-lived commands (`up`, `status`, `exec`, `down`, `demo`) do with a running cluster.
public enum ClusterControl {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static func isAlive(_ pid: Int32) -> Bool { pid > 0 && kill(pid, 0) == 0 }

    /// Starts the supervisor (`vpcnet-sim run`) detached in its own session and waits until the
    /// cluster is ready, reporting progress through `progress`.
    public static func up(spec: ClusterSpec, simExecutable: String, timeout: Duration = .seconds(300),
                          progress: (String) -> Void) async throws -> ClusterState {
        if let existing = try? ClusterState.load(spec.stateDirectory), isAlive(existing.supervisorPID) {
            throw Failure("a cluster already runs from \(spec.stateDirectory) (pid \(existing.supervisorPID)): vpcnet-sim down --state-dir \(spec.stateDirectory)")
        }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: spec.stateDirectory)) ?? []
        guard contents.isEmpty || isClusterDirectory(spec.stateDirectory) else {
            throw Failure("\(spec.stateDirectory) is not empty and not a vpcnet-sim state directory: choose another --state-dir")
        }
        // The supervisor runs as root what spec.json names: nobody else may be able to write there.
        do { try AtomicFile.requirePrivateDirectory(spec.stateDirectory) } catch { throw Failure("\(error)") }
        try AtomicFile.makeDirectory(spec.stateDirectory + "/logs", mode: 0o755)
        try? FileManager.default.removeItem(atPath: ClusterState.path(spec.stateDirectory))
        let specPath = spec.stateDirectory + "/spec.json"
        try AtomicFile.write(Array(try JSONEncoder().encode(spec)), to: specPath, mode: 0o644)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = [simExecutable, "run", "--spec", specPath]
        let log = spec.stateDirectory + "/logs/supervisor.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        // One handle for both streams, so they interleave instead of overwriting each other.
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            guard let state = try? ClusterState.load(spec.stateDirectory) else {
                if !process.isRunning { throw Failure("the simulator exited at start; see \(log)") }
                continue
            }
            if state.message != last {
                last = state.message
                progress(state.message)
            }
            switch state.phase {
            case "ready": return state
            case "failed": throw Failure("the cluster failed to start: \(state.message) (logs in \(spec.stateDirectory)/logs)")
            default: if !isAlive(state.supervisorPID) { throw Failure("the simulator died; see \(log)") }
            }
        }
        throw Failure("the cluster was not ready after \(timeout); see \(spec.stateDirectory)/logs (vpcnet-sim down cleans up)")
    }

    /// Whether `directory` is one `up` made (it holds `spec.json`): only such a directory, and the
    /// processes naming it, are ever removed.
    static func isClusterDirectory(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/spec.json") || FileManager.default.fileExists(atPath: ClusterState.path(directory))
    }

    /// Stops the cluster and removes everything it created: processes, namespaces, files. Works
    /// after a crash too (it finds namespaces by prefix and processes by their state directory).
    public static func down(stateDirectory: String) async -> [String] {
        var done: [String] = []
        let ours = isClusterDirectory(stateDirectory)
        let marker = URL(fileURLWithPath: stateDirectory).standardizedFileURL.path
        let state = ours ? try? ClusterState.load(stateDirectory) : nil
        // Only a process that is this directory's supervisor (its command line says so) is signalled:
        // a recorded pid may since belong to something else.
        if let state, isAlive(state.supervisorPID), commandLine(state.supervisorPID).contains(marker + "/spec.json") {
            kill(state.supervisorPID, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(30)
            while isAlive(state.supervisorPID) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
            if isAlive(state.supervisorPID) { kill(state.supervisorPID, SIGKILL) }
            done.append("stopped the simulator (pid \(state.supervisorPID))")
        }
        // Children that outlived it: in the supervisor's session (it runs under setsid) or one of
        // vpcnet's executables, naming this state directory, and never this command's own ancestors.
        let ancestors = Self.ancestors()
        let pids = ours ? (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? [] : []
        for pid in pids where !ancestors.contains(pid) {
            let arguments = commandLine(pid)
            guard arguments.contains(where: { $0.hasPrefix(marker + "/") || $0 == marker }) else { continue }
            let vpcnet = arguments.contains { ["eni-controller", "vpcnet-daemon", "vpcnet-sim"].contains(URL(fileURLWithPath: $0).lastPathComponent) }
            guard vpcnet || (state.map { session(pid) == $0.supervisorPID } ?? false) else { continue }
            kill(pid, SIGKILL)
            done.append("killed leftover process \(pid) (\(arguments.first ?? ""))")
        }
        let names = SimNames(prefix: ClusterState.prefix(for: stateDirectory))
        let before = (try? await Shell.namespaces())?.filter { $0.hasPrefix(names.prefix + "-") }.count ?? 0
        await VPCFabric.destroy(names: names)
        if before > 0 { done.append("removed \(before) network namespaces") }
        if ours {
            try? FileManager.default.removeItem(atPath: stateDirectory)
            done.append("removed \(stateDirectory)")
        } else if FileManager.default.fileExists(atPath: stateDirectory) {
            done.append("left \(stateDirectory) alone: it is not a vpcnet-sim state directory")
        }
        return done
    }

    static func commandLine(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, …
    static func statFields(_ pid: Int32) -> [Substring] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return [] }
        return text[text.index(after: close)...].split(separator: " ")
    }

    static func session(_ pid: Int32) -> Int32? { statFields(pid).count > 3 ? Int32(statFields(pid)[3]) : nil }

    static func ancestors() -> Set<Int32> {
        var result: Set<Int32> = [getpid()]
        var pid = getpid()
        while pid > 1, let parent = statFields(pid).count > 1 ? Int32(statFields(pid)[1]) : nil, result.insert(parent).inserted { pid = parent }
        return result
    }

    /// A client for the running cluster's API.
    public static func client(_ state: ClusterState) throws -> KubeClient {
        try KubeClient(connection: try KubeConnection.resolve(kubeconfig: state.kubeconfig, environment: [:]))
    }

    /// The network namespace of a pod (`NAME` in `default`, or `NAMESPACE/NAME`).
    public static func podNamespace(_ reference: String, state: ClusterState, kube: KubeClient) async throws -> (Pod, String) {
        let parts = reference.split(separator: "/", maxSplits: 1).map(String.init)
        let (namespace, name) = parts.count == 2 ? (parts[0], parts[1]) : ("default", parts[0])
        let pod: Pod
        do { pod = try await kube.get(Pod.self, namespace: namespace, name: name) } catch { throw Failure("no pod \(namespace)/\(name): \(error)") }
        guard let uid = pod.uid, pod.podIP != nil else { throw Failure("pod \(namespace)/\(name) is not running yet") }
        if pod.hostNetwork, let node = state.nodes.first(where: { $0.name == pod.nodeName }) { return (pod, node.namespace) }
        return (pod, SimNames(prefix: state.prefix).pod(uid))
    }
}
