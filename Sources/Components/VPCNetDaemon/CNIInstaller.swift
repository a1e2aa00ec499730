import Foundation
import Synchronization
import VPCNetCore

/// Installs the CNI plugins and writes the network configuration the container runtime reads.
///
/// Binaries are replaced atomically (a temporary file renamed over the old one), so a kubelet that
/// execs a plugin mid-update runs the old one or the new one, never half of each. The conflist is
/// written only when asked to (the caller does so once the node is configured and the IPAM answers:
/// its appearance is what makes the kubelet report the node's network ready).
public final class CNIInstaller: Sendable {
    public struct Paths: Sendable, Hashable {
        /// Searched in order for each plugin, e.g. the image's `/opt/vpcnet/cni` then Debian's `/usr/lib/cni`.
        public var sourceDirectories: [String]
        public var binDirectory = "/opt/cni/bin"
        public var confDirectory = "/etc/cni/net.d"
        public var conflistName = "10-vpcnet.conflist"
        /// Records which plugins vpcnet put in place where there was none, so uninstall removes only those.
        public var stateFile: String

        public init(sourceDirectories: [String], stateFile: String) {
            self.sourceDirectories = sourceDirectories
            self.stateFile = stateFile
        }

        public var conflistPath: String { "\(confDirectory)/\(conflistName)" }
    }

    /// The plugins every vpcnet node needs; ``CNINetworkConfiguration/plugins`` adds the chained ones.
    public static let required = ["vpcnet-ipam", "ptp", "loopback"]

    public let paths: Paths
    /// What ``installPlugins()`` installs, in order.
    public let plugins: [String]
    /// Source and target of each plugin as they were when last found equal: while neither file
    /// has changed, a pass need not read megabytes of binaries again to know nothing differs.
    private let verified = Mutex<[String: [FileStamp]]>([:])

    public init(paths: Paths, plugins: [String] = CNIInstaller.required) {
        self.paths = paths
        self.plugins = plugins
    }

    /// Copies each plugin whose installed content differs from its source. Returns the names copied.
    /// A plugin vpcnet did not put there (another CNI's `ptp`) is first kept aside, so uninstall
    /// can put it back.
    public func installPlugins() throws -> [String] {
        try AtomicFile.makeDirectory(paths.binDirectory, mode: 0o755)
        var state = try readState()
        var copied: [String] = []
        for name in plugins {
            guard let source = paths.sourceDirectories.map({ "\($0)/\(name)" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw CNIInstallError("cannot find the \(name) plugin in \(paths.sourceDirectories.joined(separator: ":"))")
            }
            let target = "\(paths.binDirectory)/\(name)"
            let stamps = [FileStamp(source), FileStamp(target)]
            if !stamps.contains(nil), verified.withLock({ $0[name] }) == stamps.compactMap({ $0 }) { continue }
            // Compared and copied a chunk at a time: the plugins are megabytes each.
            let installed = stamps[1] != nil
            // Remembered only once the two are known equal (a failed copy is tried again).
            let remember = { self.verified.withLock { $0[name] = [FileStamp(source), FileStamp(target)].compactMap { $0 } } }
            if installed, try AtomicFile.sameContents(source, target) {
                remember()
                continue
            }
            if installed, !state.created.contains(name), !state.replaced.contains(name) {
                try AtomicFile.copy(from: target, to: originalPath(name), mode: 0o755)
                state.replaced.append(name)
                try writeState(state)
            } else if !installed, !state.created.contains(name), !state.replaced.contains(name) {
                state.created.append(name)
                try writeState(state)
            }
            try AtomicFile.copy(from: source, to: target, mode: 0o755)
            remember()
            copied.append(name)
        }
        return copied
    }

    /// Writes the conflist when its content differs. Returns whether it did.
    public func writeConflist(_ text: String) throws -> Bool {
        try AtomicFile.makeDirectory(paths.confDirectory, mode: 0o755)
        if try AtomicFile.read(paths.conflistPath) == Array(text.utf8) { return false }
        try AtomicFile.write(text, to: paths.conflistPath, mode: 0o644)
        return true
    }

    public var hasConflist: Bool { FileManager.default.fileExists(atPath: paths.conflistPath) }

    /// Removes the conflist first (the node stops taking pods), then the plugins vpcnet installed
    /// where none existed, and puts back those it replaced.
    public func uninstall() throws -> [String] {
        var removed: [String] = []
        if hasConflist {
            try AtomicFile.remove(paths.conflistPath)
            removed.append(paths.conflistPath)
        }
        let state = try readState()
        for name in state.created {
            let path = "\(paths.binDirectory)/\(name)"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            try AtomicFile.remove(path)
            removed.append(path)
        }
        for name in state.replaced {
            guard FileStamp(originalPath(name)) != nil else { continue }
            try AtomicFile.copy(from: originalPath(name), to: "\(paths.binDirectory)/\(name)", mode: 0o755)
            try AtomicFile.remove(originalPath(name))
            removed.append("\(paths.binDirectory)/\(name) (the original put back)")
        }
        try AtomicFile.remove(paths.stateFile)
        return removed
    }

    struct State: Codable {
        /// Plugins vpcnet put where there was none.
        var created: [String] = []
        /// Plugins vpcnet replaced; the originals are kept next to the state file.
        var replaced: [String] = []
    }

    private func originalPath(_ name: String) -> String { "\(paths.stateFile).\(name).original" }

    private func readState() throws -> State {
        guard let bytes = try AtomicFile.read(paths.stateFile) else { return State() }
        guard let state = try? JSONDecoder().decode(State.self, from: Data(bytes)) else {
            throw CNIInstallError("\(paths.stateFile) is not vpcnet's record of installed plugins; move it aside to start afresh")
        }
        return state
    }

    private func writeState(_ state: State) throws {
        try AtomicFile.write(Array(try JSONEncoder().encode(state)), to: paths.stateFile, mode: 0o600)
    }
}

/// What identifies a file's content without reading it: replaced (renamed over), rewritten or
/// touched, one of these changes.
struct FileStamp: Hashable, Sendable {
    var device: UInt64, inode: UInt64, size: Int64, modified: Int, modifiedNanoseconds: Int

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}

public struct CNIInstallError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The CNI network configuration: the standard `ptp` plugin (a veth per pod, host routes, no
/// bridge) delegating IPAM to `vpcnet-ipam`, which asks the daemon over its socket; then, chained,
/// the standard `portmap` (pods' `hostPort`s, from the runtime's `portMappings`) and `bandwidth`
/// (the `kubernetes.io/ingress-bandwidth` and `egress-bandwidth` annotations, from the runtime's
/// `bandwidth`) plugins, each as the daemon's settings say.
public struct CNINetworkConfiguration: Sendable, Hashable {
    public var name = "vpcnet"
    public var cniVersion = "1.0.0"
    public var mtu: UInt32
    public var socketPath: String
    /// Where the plugin leaves releases it could not deliver (the daemon replays them at start).
    public var spoolDirectory: String
    /// The plugin's deadline for one call to the daemon.
    public var timeoutMilliseconds: Int = 10_000
    public var hostPorts = true
    /// Off by default, as the daemon's `bandwidth` setting.
    public var bandwidth = false

    public init(mtu: UInt32, socketPath: String, spoolDirectory: String) {
        self.mtu = mtu
        self.socketPath = socketPath
        self.spoolDirectory = spoolDirectory
    }

    /// The plugins the conflist uses (and `loopback`, which runtimes use for `lo`).
    public var plugins: [String] {
        CNIInstaller.required + (hostPorts ? ["portmap"] : []) + (bandwidth ? ["bandwidth"] : [])
    }

    public var conflist: String {
        var ptp: [String: Any] = [
            "type": "ptp",
            "mtu": mtu,
            "ipMasq": false,
            "ipam": ["type": "vpcnet-ipam", "socket": socketPath, "spoolDir": spoolDirectory, "timeoutMilliseconds": timeoutMilliseconds],
        ]
        // ptp ignores the port mappings; it hands its configuration to vpcnet-ipam, which gives
        // them to the daemon: two pods on a node cannot take one hostPort (portmap would let them).
        if hostPorts { ptp["capabilities"] = ["portMappings": true] }
        var plugins: [[String: Any]] = [ptp]
        // snat: hairpin and node-local connections to a hostPort are masqueraded (with portmap's
        // own mark bit, 0x2000, clear of kube-proxy's and vpcnet's), as Amazon's VPC CNI has it.
        if hostPorts { plugins.append(["type": "portmap", "capabilities": ["portMappings": true], "snat": true]) }
        if bandwidth { plugins.append(["type": "bandwidth", "capabilities": ["bandwidth": true]]) }
        let document: [String: Any] = ["cniVersion": cniVersion, "name": name, "plugins": plugins]
        let data = try! JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
