import EC2Sim
import Foundation
import VPCNetCore

/// Names of everything a simulated cluster creates, all under one prefix, so `down` can find
/// them even after a crash and several clusters never collide.
public struct SimNames: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String) { self.prefix = prefix }

    public var router: String { "\(prefix)-vpc" }
    public var internet: String { "\(prefix)-inet" }
    public func node(_ index: Int) -> String { "\(prefix)-n\(index)" }
    public func pod(_ uid: String) -> String { "\(prefix)-p\(uid.replacingOccurrences(of: "-", with: "").prefix(12))" }
    /// The fabric's side of an ENI's wire (at most 15 characters, unique per VPC).
    static func routerLink(_ eniID: String) -> String { "r" + eniID.suffix(12) }
    public static func path(_ namespace: String) -> String { "/var/run/netns/\(namespace)" }
}

/// The simulated VPC fabric, in network namespaces driven by the EC2 simulator's events:
///
/// - a router namespace with one point-to-point wire per ENI, holding the subnet's gateway
///   address and answering ARP for the subnet (proxy ARP), delivering each private address only
///   down the wire of the ENI that holds it;
/// - a source/destination check: a packet entering from an ENI with a source that ENI does not
///   hold is dropped;
/// - security groups: each ENI's groups' egress rules for what it sends, ingress rules for what
///   it receives, stateful (``FabricFirewall``), from the EC2 simulator's rules;
/// - an internet host behind an internet gateway that lets out only instances' primary addresses
///   (the ones with a public mapping);
/// - the instance metadata address and the control plane's address on the router itself.
///
/// Instances appear as namespaces whose `eth0` is the primary ENI; an attached ENI is hot-plugged
/// as `eth<device index>` with its MAC, unconfigured, as EC2 does.
public actor VPCFabric {
    public static let controlPlaneAddress = "198.18.0.10"
    public static let metadataAddress = "169.254.169.254"
    public static let internetHost = "198.51.100.10"
    static let internetGateway = "198.51.100.1"

    struct PlacedENI {
        var instanceID: String
        var deviceIndex: Int
        var addresses: [IPv4Address]
        var prefixes: [IPv4CIDR]
        var primaryIP: IPv4Address
        var routerLink: String
    }

    public let names: SimNames
    /// A subnet's CIDR by ID, from the EC2 simulator (subnets created after start included).
    let subnets: @Sendable (String) -> IPv4CIDR?
    private let security: @Sendable () -> SimSecurityView
    private var enis: [String: PlacedENI] = [:]
    private var instances: [String: (namespace: String, primaryIP: IPv4Address)] = [:]
    private var appliedFirewall = ""

    /// `subnets`: subnet ID → CIDR, for gateways and prefixes; `security`: the groups to enforce
    /// now (both read when needed, so the fabric follows the latest state).
    public init(names: SimNames, subnets: @escaping @Sendable (String) -> IPv4CIDR?, security: @escaping @Sendable () -> SimSecurityView) {
        self.names = names
        self.subnets = subnets
        self.security = security
    }

    /// Creates the router and the internet host.
    public func create() async throws {
        let router = names.router, internet = names.internet
        for namespace in [router, internet] {
            try await Shell.run(["ip", "netns", "add", namespace])
            try await Shell.ip(namespace, "link", "set", "lo", "up")
        }
        try await Shell.ip(router, "addr", "add", "\(Self.controlPlaneAddress)/32", "dev", "lo")
        try await Shell.ip(router, "addr", "add", "\(Self.metadataAddress)/32", "dev", "lo")
        try await sysctl(router, ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"])
        try await Shell.ip(router, "link", "add", "igw", "type", "veth", "peer", "name", "wan", "netns", internet)
        try await Shell.ip(router, "addr", "add", "\(Self.internetGateway)/24", "dev", "igw")
        try await Shell.ip(router, "link", "set", "igw", "up")
        try await Shell.ip(internet, "addr", "add", "\(Self.internetHost)/24", "dev", "wan")
        try await Shell.ip(internet, "link", "set", "wan", "up")
        try await Shell.ip(internet, "route", "add", "default", "via", Self.internetGateway)
        try await applyFilters()
    }

    /// A launched instance: its namespace, with the primary ENI as `eth0`, configured as the
    /// instance's OS would (address, default route through the subnet's gateway).
    public func addInstance(id: String, namespace: String, primary: SimENI) async throws {
        guard let subnet = subnets(primary.subnetID) else { throw CommandError(command: "addInstance", status: "unknown subnet", output: primary.subnetID) }
        try await Shell.run(["ip", "netns", "add", namespace])
        try await Shell.ip(namespace, "link", "set", "lo", "up")
        instances[id] = (namespace, primary.primaryIP)
        try await plug(primary, deviceIndex: 0, instanceID: id)
        try await Shell.ip(namespace, "addr", "add", "\(primary.primaryIP)/\(subnet.prefixLength)", "dev", "eth0")
        try await Shell.ip(namespace, "link", "set", "eth0", "up")
        try await Shell.ip(namespace, "route", "add", "default", "via", "\(subnet.awsGateway)", "dev", "eth0")
        try await applyFilters()
    }

    /// Applies one hardware change from the EC2 simulator. Failures are reported, not thrown: the
    /// fabric keeps following EC2.
    public func apply(_ event: SimEvent) async -> String? {
        do {
            switch event {
            case .attached(let eni):
                guard let attachment = eni.attachment, attachment.deviceIndex != 0, instances[attachment.instanceID] != nil else { return nil }
                try await plug(eni, deviceIndex: attachment.deviceIndex, instanceID: attachment.instanceID)
            case .detached(let eni, _):
                guard let placed = enis.removeValue(forKey: eni.id) else { return nil }
                _ = try? await Shell.ip(names.router, "link", "del", placed.routerLink)
            case .addressesAssigned(let id, let addresses, let prefixes):
                guard var placed = enis[id] else { return nil }
                for address in addresses where !placed.addresses.contains(address) {
                    try await Shell.ip(names.router, "route", "replace", "\(address)/32", "via", "\(placed.primaryIP)", "dev", placed.routerLink)
                    placed.addresses.append(address)
                }
                for prefix in prefixes where !placed.prefixes.contains(prefix) {
                    try await Shell.ip(names.router, "route", "replace", "\(prefix)", "via", "\(placed.primaryIP)", "dev", placed.routerLink)
                    placed.prefixes.append(prefix)
                }
                enis[id] = placed
            case .addressesUnassigned(let id, let addresses, let prefixes):
                guard var placed = enis[id] else { return nil }
                for address in addresses where address != placed.primaryIP {
                    _ = try? await Shell.ip(names.router, "route", "del", "\(address)/32")
                }
                for prefix in prefixes { _ = try? await Shell.ip(names.router, "route", "del", "\(prefix)") }
                placed.addresses.removeAll { addresses.contains($0) && $0 != placed.primaryIP }
                placed.prefixes.removeAll { prefixes.contains($0) }
                enis[id] = placed
            case .securityChanged:
                break
            case .instanceTerminated(let id):
                guard let instance = instances.removeValue(forKey: id) else { return nil }
                for (eniID, placed) in enis where placed.instanceID == id {
                    enis[eniID] = nil
                    _ = try? await Shell.ip(names.router, "link", "del", placed.routerLink)
                }
                _ = try? await Shell.run(["ip", "netns", "del", instance.namespace])
            }
            try await applyFilters()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The instance a source address belongs to (for the metadata service).
    public func instance(withPrimaryAddress address: IPv4Address) -> String? {
        instances.first { $0.value.primaryIP == address }?.key
    }

    /// Removes every namespace of this cluster (also those of a crashed run).
    public static func destroy(names: SimNames) async {
        for namespace in (try? await Shell.namespaces()) ?? [] where namespace.hasPrefix(names.prefix + "-") {
            _ = try? await Shell.run(["ip", "netns", "del", namespace])
        }
    }

    // MARK: -

    /// Wires an ENI between the router and its instance's namespace.
    private func plug(_ eni: SimENI, deviceIndex: Int, instanceID: String) async throws {
        guard let instance = instances[instanceID], let subnet = subnets(eni.subnetID) else { return }
        let link = SimNames.routerLink(eni.id)
        try await Shell.ip(names.router, "link", "add", link, "type", "veth", "peer", "name", "eth\(deviceIndex)",
                           "address", eni.macAddress, "netns", instance.namespace)
        try await Shell.ip(names.router, "addr", "add", "\(subnet.awsGateway)/32", "dev", link)
        try await sysctl(names.router, ["net.ipv4.conf.\(link).proxy_arp=1", "net.ipv4.conf.\(link).rp_filter=0"])
        try await Shell.ip(names.router, "link", "set", link, "up")
        try await Shell.ip(names.router, "route", "replace", "\(eni.primaryIP)/32", "dev", link, "scope", "link")
        for address in eni.secondaryIPs {
            try await Shell.ip(names.router, "route", "replace", "\(address)/32", "via", "\(eni.primaryIP)", "dev", link)
        }
        // A delegated prefix is routed whole to the ENI that holds it, as the VPC router does.
        for prefix in eni.prefixes {
            try await Shell.ip(names.router, "route", "replace", "\(prefix)", "via", "\(eni.primaryIP)", "dev", link)
        }
        enis[eni.id] = PlacedENI(instanceID: instanceID, deviceIndex: deviceIndex, addresses: [eni.primaryIP] + eni.secondaryIPs,
                                 prefixes: eni.prefixes, primaryIP: eni.primaryIP, routerLink: link)
    }

    /// The source/destination check and the internet gateway, regenerated whole from the model.
    private func applyFilters() async throws {
        var raw = "*raw\n:VSIM-SOURCE-CHECK - [0:0]\n-F VSIM-SOURCE-CHECK\n"
        for placed in enis.values.sorted(by: { $0.routerLink < $1.routerLink }) {
            for address in placed.addresses { raw += "-A VSIM-SOURCE-CHECK -i \(placed.routerLink) -s \(address)/32 -j RETURN\n" }
            for prefix in placed.prefixes { raw += "-A VSIM-SOURCE-CHECK -i \(placed.routerLink) -s \(prefix) -j RETURN\n" }
            raw += "-A VSIM-SOURCE-CHECK -i \(placed.routerLink) -j DROP\n"
        }
        var filter = "*filter\n:VSIM-IGW - [0:0]\n-F VSIM-IGW\n"
        for instance in instances.values.sorted(by: { $0.primaryIP < $1.primaryIP }) {
            filter += "-A VSIM-IGW -o igw -s \(instance.primaryIP)/32 -j RETURN\n"
        }
        filter += "-A VSIM-IGW -o igw -j DROP\n"
        let current = try await Shell.inNamespace(names.router, ["iptables-save"])
        if !current.contains("-A PREROUTING -j VSIM-SOURCE-CHECK") { raw += "-A PREROUTING -j VSIM-SOURCE-CHECK\n" }
        if !current.contains("-A FORWARD -j VSIM-IGW") { filter += "-A FORWARD -j VSIM-IGW\n" }
        try await Shell.inNamespace(names.router, ["iptables-restore", "--noflush"], input: raw + "COMMIT\n" + filter + "COMMIT\n")
        let ports = enis.map { FabricFirewall.Port(eniID: $0.key, link: $0.value.routerLink, addresses: $0.value.addresses, prefixes: $0.value.prefixes) }
        let firewall = FabricFirewall.ruleset(ports: ports, security: security())
        if firewall != appliedFirewall {
            try await Shell.inNamespace(names.router, ["nft", "-f", "-"], input: firewall)
            appliedFirewall = firewall
        }
    }

    private func sysctl(_ namespace: String, _ settings: [String]) async throws {
        try await Shell.inNamespace(namespace, ["sysctl", "-qw"] + settings)
    }
}
