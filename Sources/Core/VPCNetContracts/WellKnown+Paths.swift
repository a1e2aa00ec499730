import VPCNetCore

extension WellKnown {
    /// Where vpcnet's processes find each other on a node. The daemon, the CNI plugin, vpcnetctl
    /// and `deploy/` agree on these; the daemon's settings can move them (simulated nodes do).
    public enum Paths {
        /// The daemon's root-only state: allocations, host originals, installed plugins.
        public static let stateDirectory = "/var/lib/vpcnet"
        /// The IPAM service's unix socket, in a root-only directory.
        public static let ipamSocket = "/run/vpcnet/ipam.sock"
        /// The pod address allocations: in the socket's directory, a tmpfs on every systemd host,
        /// because they must outlive the daemon but not the node (a reboot takes every pod with
        /// it), and a change there costs no disk sync.
        public static func allocationsFile(socketPath: String) -> String { AtomicFile.directory(of: socketPath) + "/ipam.json" }
        /// Releases the plugin could not deliver, replayed by the daemon (see ``ReleaseSpool``).
        public static func spoolDirectory(stateDirectory: String) -> String { stateDirectory + "/spool" }
        public static let spoolDirectory = spoolDirectory(stateDirectory: stateDirectory)
        /// The container runtime's CNI directories, as containerd and CRI-O default them.
        public static let cniBinDirectory = "/opt/cni/bin"
        public static let cniConfDirectory = "/etc/cni/net.d"
        /// Where the image keeps the plugins the daemon installs (vpcnet-ipam, then Debian's ptp and loopback).
        public static let cniSourceDirectories = ["/opt/vpcnet/cni", "/usr/lib/cni"]
    }

    /// The TCP ports vpcnet listens on (host network; the manifests and documentation use the same).
    public enum Ports {
        /// The daemon's `/metrics` and `/healthz`, on every address.
        public static let daemonMetrics = 61680
        /// The eni-controller's `/metrics` and `/healthz`, on every address.
        public static let controllerMetrics = 61681
        /// The daemon's read-only `GET /v1/status`, on loopback only (it shows every pod's address).
        public static let introspection = 61682
    }
}
