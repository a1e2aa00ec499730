import VPCNetCore

/// An EC2 error as the simulator returns it: the code, message and HTTP status EC2 uses.
public struct SimError: Error, Sendable, Hashable {
    public var code: String
    public var message: String
    public var status: Int

    public init(_ code: String, _ message: String, status: Int = 400) {
        self.code = code
        self.message = message
        self.status = status
    }

    static func notFound(_ code: String, _ id: String, _ kind: String) -> SimError {
        SimError(code, "The \(kind) ID '\(id)' does not exist")
    }
    static func missing(_ name: String) -> SimError {
        SimError("MissingParameter", "The request must contain the parameter \(name)")
    }
    static func invalid(_ message: String) -> SimError { SimError("InvalidParameterValue", message) }
}

public struct SimTag: Hashable, Sendable {
    public var key: String
    public var value: String
}

struct SimVPC: Sendable {
    var id: String
    var cidr: IPv4CIDR
    var tags: [SimTag]
}

struct SimSubnet: Sendable {
    var id: String
    var vpcID: String
    var cidr: IPv4CIDR
    var availabilityZone: String
    var tags: [SimTag]
    /// Every address held by an ENI (primaries, secondaries and the 16 of each prefix).
    var used: Set<IPv4Address> = []
    /// Where the next address search starts, so a just-released address is not handed out again at once.
    var cursor: UInt32 = 0
    var reservations: [SimCidrReservation] = []

    /// Addresses EC2 may still hand out: the subnet less its 5 reserved addresses, those in use and
    /// the free ones a `prefix` reservation holds back (as moto counts them).
    var availableCount: Int { Int(cidr.size) - 5 - used.count - freeReserved { $0 == .prefix } }

    /// Free addresses EC2 would pick on its own as a primary or secondary: outside every reservation.
    var unreservedCount: Int { Int(cidr.size) - 5 - used.count - freeReserved { _ in true } }

    /// Whether `address` lies in a reservation (EC2 never picks it for a single address on its own).
    func isReserved(_ address: IPv4Address) -> Bool { reservations.contains { $0.cidr.contains(address) } }

    private func freeReserved(_ kinds: (SimCidrReservation.Kind) -> Bool) -> Int {
        let awsReserved = Set(cidr.awsReservedAddresses)
        return reservations.filter { kinds($0.kind) }.reduce(0) { total, reservation in
            total + reservation.cidr.addresses.count { !used.contains($0) && !awsReserved.contains($0) }
        }
    }
}

/// A subnet CIDR reservation: a range EC2 keeps for the prefixes it picks (`prefix`) or never
/// picks from on its own (`explicit`); either way no automatic primary or secondary address.
struct SimCidrReservation: Sendable {
    enum Kind: String, Sendable { case prefix, explicit }
    var id: String
    var subnetID: String
    var cidr: IPv4CIDR
    var kind: Kind
    var description: String?
    var tags: [SimTag]
}

struct SimSecurityGroup: Sendable {
    var id: String
    var name: String
    var description: String
    var vpcID: String
    var tags: [SimTag]
}

public struct SimAttachment: Sendable, Hashable {
    public var id: String
    public var instanceID: String
    public var deviceIndex: Int
    public var networkCardIndex: Int
    /// `attaching`, `attached`, `detaching`.
    public var status: String
    public var deleteOnTermination: Bool
    public var attachTime: String
}

/// An ENI as hooks and tests see it.
public struct SimENI: Sendable, Hashable {
    public var id: String
    public var subnetID: String
    public var vpcID: String
    public var availabilityZone: String
    public var description: String
    /// `available`, `attaching`, `in-use`, `detaching`.
    public var status: String
    public var macAddress: String
    public var primaryIP: IPv4Address
    public var secondaryIPs: [IPv4Address]
    public var prefixes: [IPv4CIDR]
    public var groupIDs: [String]
    public var attachment: SimAttachment?
    public var tags: [SimTag]
    public var sourceDestCheck: Bool
    public var ownerID: String

    /// Address slots used against the instance type's IPv4-per-ENI limit (a prefix takes one).
    var slotsUsed: Int { 1 + secondaryIPs.count + prefixes.count }
    var allAddresses: [IPv4Address] { [primaryIP] + secondaryIPs + prefixes.flatMap { Array($0.addresses) } }
}

struct SimInstance: Sendable {
    var id: String
    var instanceType: String
    var imageID: String
    var availabilityZone: String
    var subnetID: String
    var vpcID: String
    /// `pending`, `running`, `shutting-down`, `terminated`.
    var state: String
    var groupIDs: [String]
    var tags: [SimTag]
    var launchTime: String
    var limits: InstanceTypeLimits
}

extension SimInstance {
    static func stateCode(_ name: String) -> Int {
        ["pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80][name] ?? 0
    }
}

/// One rule of a security group, as `DescribeSecurityGroupRules` lists it: a direction, a
/// protocol (`-1` for all) and port range (`-1` when the protocol has none), and one peer — a CIDR
/// or a group whose members' addresses match.
public struct SimSecurityGroupRule: Sendable, Hashable {
    public var id: String
    public var groupID: String
    public var isEgress: Bool
    /// `tcp`, `udp`, `icmp`, `-1` (all) or another protocol number.
    public var ipProtocol: String
    /// For ICMP, the type and code (`-1`: any).
    public var fromPort: Int
    public var toPort: Int
    public var cidr: IPv4CIDR?
    public var referencedGroupID: String?
    public var description: String?
    public var tags: [SimTag] = []

    /// Two rules are the same rule when everything but the ID, description and tags is.
    func sameRule(as other: SimSecurityGroupRule) -> Bool {
        groupID == other.groupID && isEgress == other.isEgress && ipProtocol == other.ipProtocol && fromPort == other.fromPort
            && toPort == other.toPort && cidr == other.cidr && referencedGroupID == other.referencedGroupID
    }
}

/// What the VPC needs to enforce security groups: every rule, and the groups of every ENI.
public struct SimSecurityView: Sendable, Hashable {
    public var rules: [SimSecurityGroupRule]
    public var groupsByENI: [String: [String]]

    public init(rules: [SimSecurityGroupRule] = [], groupsByENI: [String: [String]] = [:]) {
        self.rules = rules
        self.groupsByENI = groupsByENI
    }
}
