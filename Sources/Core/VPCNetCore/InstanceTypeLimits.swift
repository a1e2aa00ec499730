/// The network limits of one EC2 instance type, from AWS's DescribeInstanceTypes data
/// (`NetworkInfo`), generated into `InstanceTypeLimits+Table.swift` by `scripts/gen-instance-limits`.
public struct InstanceTypeLimits: Hashable, Sendable {
    public enum Hypervisor: String, Sendable {
        case nitro, xen
        /// Bare-metal types report no hypervisor.
        case none = "-"
    }

    public var instanceType: String
    /// `MaximumNetworkInterfaces`: ENIs the instance can have attached, the primary included,
    /// summed over all network cards.
    public var maxENIs: Int
    /// `Ipv4AddressesPerInterface`: addresses per ENI, its primary address included.
    public var ipv4AddressesPerENI: Int
    public var hypervisor: Hypervisor
    public var isBareMetal: Bool
    public var networkCards: Int
    /// ENIs attachable on the default network card (card 0); equals `maxENIs` on single-card types.
    public var maxENIsOnDefaultCard: Int

    public init(instanceType: String, maxENIs: Int, ipv4AddressesPerENI: Int, hypervisor: Hypervisor,
                isBareMetal: Bool, networkCards: Int = 1, maxENIsOnDefaultCard: Int? = nil) {
        self.instanceType = instanceType
        self.maxENIs = maxENIs
        self.ipv4AddressesPerENI = ipv4AddressesPerENI
        self.hypervisor = hypervisor
        self.isBareMetal = isBareMetal
        self.networkCards = networkCards
        self.maxENIsOnDefaultCard = maxENIsOnDefaultCard ?? maxENIs
    }

    /// ENIs attachable on network card `index`. The generated table records only the default
    /// card's figure; the other cards share the rest evenly, as on every multi-card type AWS sells.
    public func maxENIs(onCard index: Int) -> Int {
        guard (0..<networkCards).contains(index) else { return 0 }
        if index == 0 { return maxENIsOnDefaultCard }
        return (maxENIs - maxENIsOnDefaultCard) / (networkCards - 1)
    }

    /// IPv4 prefix delegation (/28 prefixes instead of single addresses) is available on Nitro
    /// instances, bare metal included.
    public var supportsPrefixDelegation: Bool { hypervisor == .nitro || isBareMetal }

    /// The most pod addresses a node of this type can hold, or `nil` when prefix delegation is
    /// asked for on a type that does not support it. See ``podAddressLimit(maxENIs:ipv4AddressesPerENI:prefixDelegation:)``;
    /// what a node is actually given is ``PodSizing/target(for:)``.
    ///
    /// vpcnet attaches ENIs on the default network card only (as Amazon's VPC CNI does by
    /// default), so on the few multi-card types (p5, trn1, c6in.32xlarge, …) the ENIs of the other
    /// cards are not counted.
    public func maxPodAddresses(prefixDelegation: Bool = false) -> Int? {
        if prefixDelegation && !supportsPrefixDelegation { return nil }
        return Self.podAddressLimit(maxENIs: maxENIsOnDefaultCard, ipv4AddressesPerENI: ipv4AddressesPerENI,
                                    prefixDelegation: prefixDelegation)
    }

    /// The pod address limit.
    ///
    ///     addresses = (ENIs − 1) × (IPv4 addresses per ENI − 1)            (× 16 with prefix delegation)
    ///
    /// The primary ENI (device index 0) stays the host's, so one ENI is subtracted; every other
    /// ENI keeps its own primary address (the pods' gateway side of the ptp link and the source of
    /// its policy route), so one address per ENI is subtracted. With prefix delegation each
    /// secondary slot holds a /28, i.e. 16 addresses. Examples: m5.large (3, 10) → 18;
    /// t3.medium (3, 6) → 10; t2.micro (2, 2) → 1. The pods a node runs add its host-network pods
    /// (``PodSizing/podCapacity(podAddresses:)``).
    public static func podAddressLimit(maxENIs: Int, ipv4AddressesPerENI: Int, prefixDelegation: Bool = false) -> Int {
        let slots = max(0, maxENIs - 1) * max(0, ipv4AddressesPerENI - 1)
        return prefixDelegation ? slots * PodSizing.addressesPerPrefix : slots
    }

    /// Looks up a type in the generated table (`nil` for a type the table lacks; the controller
    /// then asks DescribeInstanceTypes).
    public static func forType(_ instanceType: String) -> InstanceTypeLimits? { table[instanceType] }

    /// Every type in the generated table, by name.
    public static var all: [String: InstanceTypeLimits] { table }

    private static let table: [String: InstanceTypeLimits] = {
        var result: [String: InstanceTypeLimits] = [:]
        for line in tableText.split(separator: "\n") {
            let f = line.split(separator: " ")
            // The generator validates every row; a malformed one is a generator bug caught by tests.
            guard f.count == 7, let enis = Int(f[1]), let ips = Int(f[2]), let hv = Hypervisor(rawValue: String(f[3])),
                  let cards = Int(f[5]), let cardMax = Int(f[6]) else { continue }
            let name = String(f[0])
            result[name] = InstanceTypeLimits(instanceType: name, maxENIs: enis, ipv4AddressesPerENI: ips, hypervisor: hv,
                                              isBareMetal: f[4] == "1", networkCards: cards, maxENIsOnDefaultCard: cardMax)
        }
        return result
    }()

    /// Number of lines in the generated table, for the test that no row was dropped while parsing.
    static var tableRowCount: Int { tableText.split(separator: "\n").count }
}
