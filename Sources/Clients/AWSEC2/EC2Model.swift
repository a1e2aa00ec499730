// The parts of EC2's resource shapes vpcnet uses, decoded from the Query API's XML (API version
// 2016-11-15). Written by hand (no SDK here); element names follow the EC2 API reference.

/// A resource tag.
public struct Tag: Hashable, Sendable, Decodable {
    public var key: String
    public var value: String
    public init(key: String, value: String) { self.key = key; self.value = value }
    enum CodingKeys: String, CodingKey { case key, value }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decode(String.self, forKey: .key)
        value = try c.decodeIfPresent(String.self, forKey: .value) ?? ""
    }
}

extension Array where Element == Tag {
    /// The value of tag `key`, if present.
    public subscript(tag key: String) -> String? { first { $0.key == key }?.value }
}

/// A `Describe*` filter: `name` matches any of `values` (EC2 supports `*` and `?` wildcards).
public struct Filter: Hashable, Sendable {
    public var name: String
    public var values: [String]
    public init(_ name: String, _ values: [String]) { self.name = name; self.values = values }
    public static func tag(_ key: String, _ values: String...) -> Filter { Filter("tag:\(key)", values) }
}

/// A security group reference inside another resource.
public struct GroupIdentifier: Hashable, Sendable, Decodable {
    public var id: String
    public var name: String?
    enum CodingKeys: String, CodingKey { case id = "groupId", name = "groupName" }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.text(.name)
    }
}

public struct PrivateIPAddress: Hashable, Sendable, Decodable {
    public var address: String
    public var primary: Bool
    enum CodingKeys: String, CodingKey { case address = "privateIpAddress", primary }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decode(String.self, forKey: .address)
        primary = try c.decodeIfPresent(Bool.self, forKey: .primary) ?? false
    }
}

struct IPv4PrefixItem: Decodable {
    var ipv4Prefix: String
}

/// An ENI's attachment to an instance.
public struct NetworkInterfaceAttachment: Hashable, Sendable, Decodable {
    public var id: String
    public var instanceID: String?
    public var deviceIndex: Int
    public var networkCardIndex: Int?
    public var status: AttachmentStatus
    public var deleteOnTermination: Bool

    enum CodingKeys: String, CodingKey {
        case id = "attachmentId", instanceID = "instanceId", deviceIndex, networkCardIndex, status, deleteOnTermination
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        instanceID = try c.text(.instanceID)
        deviceIndex = try c.decode(Int.self, forKey: .deviceIndex)
        networkCardIndex = try c.decodeIfPresent(Int.self, forKey: .networkCardIndex)
        status = AttachmentStatus(rawValue: try c.decodeIfPresent(String.self, forKey: .status) ?? "")
        deleteOnTermination = try c.decodeIfPresent(Bool.self, forKey: .deleteOnTermination) ?? false
    }
}

/// An elastic network interface, as DescribeNetworkInterfaces and CreateNetworkInterface return it
/// (and, with fewer fields, inside DescribeInstances).
public struct NetworkInterface: Hashable, Sendable, Decodable {
    public var id: String
    public var subnetID: String
    public var vpcID: String?
    public var availabilityZone: String?
    public var description: String?
    public var status: NetworkInterfaceStatus
    public var macAddress: String
    public var privateIPAddress: String
    public var privateIPAddresses: [PrivateIPAddress]
    public var ipv4Prefixes: [String]
    public var groups: [GroupIdentifier]
    public var attachment: NetworkInterfaceAttachment?
    public var tags: [Tag]
    public var sourceDestCheck: Bool?

    /// The secondary addresses (all but the primary).
    public var secondaryIPAddresses: [String] { privateIPAddresses.filter { !$0.primary }.map(\.address) }

    enum CodingKeys: String, CodingKey {
        case id = "networkInterfaceId", subnetID = "subnetId", vpcID = "vpcId", availabilityZone, description, status
        case macAddress, privateIPAddress = "privateIpAddress", privateIPAddresses = "privateIpAddressesSet"
        case ipv4Prefixes = "ipv4PrefixSet", groups = "groupSet", attachment, tags = "tagSet", sourceDestCheck
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        subnetID = try c.decode(String.self, forKey: .subnetID)
        vpcID = try c.text(.vpcID)
        availabilityZone = try c.text(.availabilityZone)
        description = try c.text(.description)
        status = NetworkInterfaceStatus(rawValue: try c.decodeIfPresent(String.self, forKey: .status) ?? "")
        macAddress = try c.decode(String.self, forKey: .macAddress)
        privateIPAddress = try c.decode(String.self, forKey: .privateIPAddress)
        privateIPAddresses = try c.list(PrivateIPAddress.self, forKey: .privateIPAddresses)
        ipv4Prefixes = try c.list(IPv4PrefixItem.self, forKey: .ipv4Prefixes).map(\.ipv4Prefix)
        groups = try c.list(GroupIdentifier.self, forKey: .groups)
        attachment = try c.decodeIfPresent(NetworkInterfaceAttachment.self, forKey: .attachment)
        tags = try c.list(Tag.self, forKey: .tags)
        sourceDestCheck = try c.decodeIfPresent(Bool.self, forKey: .sourceDestCheck)
    }
}

/// An instance, with the fields the controller needs.
public struct Instance: Hashable, Sendable, Decodable {
    public var id: String
    public var instanceType: String
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`.
    public var state: String
    public var availabilityZone: String?
    public var subnetID: String?
    public var vpcID: String?
    public var privateIPAddress: String?
    public var securityGroups: [GroupIdentifier]
    public var networkInterfaces: [NetworkInterface]
    public var tags: [Tag]

    struct State: Decodable { var name: String }
    struct Placement: Decodable { var availabilityZone: String? }
    enum CodingKeys: String, CodingKey {
        case id = "instanceId", instanceType, state = "instanceState", placement, subnetID = "subnetId", vpcID = "vpcId"
        case privateIPAddress = "privateIpAddress", securityGroups = "groupSet", networkInterfaces = "networkInterfaceSet"
        case tags = "tagSet"
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        instanceType = try c.decode(String.self, forKey: .instanceType)
        state = try c.decode(State.self, forKey: .state).name
        availabilityZone = try c.decodeIfPresent(Placement.self, forKey: .placement)?.availabilityZone
        subnetID = try c.text(.subnetID)
        vpcID = try c.text(.vpcID)
        privateIPAddress = try c.text(.privateIPAddress)
        securityGroups = try c.list(GroupIdentifier.self, forKey: .securityGroups)
        networkInterfaces = try c.list(NetworkInterface.self, forKey: .networkInterfaces)
        tags = try c.list(Tag.self, forKey: .tags)
    }
}

public struct Subnet: Hashable, Sendable, Decodable {
    public var id: String
    public var vpcID: String
    public var cidrBlock: String
    public var availabilityZone: String
    public var availableIPAddressCount: Int
    public var state: String?
    public var tags: [Tag]

    enum CodingKeys: String, CodingKey {
        case id = "subnetId", vpcID = "vpcId", cidrBlock, availabilityZone
        case availableIPAddressCount = "availableIpAddressCount", state, tags = "tagSet"
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        vpcID = try c.decode(String.self, forKey: .vpcID)
        cidrBlock = try c.decode(String.self, forKey: .cidrBlock)
        availabilityZone = try c.decode(String.self, forKey: .availabilityZone)
        availableIPAddressCount = try c.decodeIfPresent(Int.self, forKey: .availableIPAddressCount) ?? 0
        state = try c.text(.state)
        tags = try c.list(Tag.self, forKey: .tags)
    }
}

public struct SecurityGroup: Hashable, Sendable, Decodable {
    public var id: String
    public var name: String
    public var vpcID: String?
    public var tags: [Tag]

    enum CodingKeys: String, CodingKey { case id = "groupId", name = "groupName", vpcID = "vpcId", tags = "tagSet" }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        vpcID = try c.text(.vpcID)
        tags = try c.list(Tag.self, forKey: .tags)
    }
}

public struct VPC: Hashable, Sendable, Decodable {
    public var id: String
    public var cidrBlock: String
    /// Every associated IPv4 CIDR block, the primary one included.
    public var cidrBlocks: [String]
    public var tags: [Tag]

    struct Association: Decodable {
        struct State: Decodable { var state: String }
        var cidrBlock: String
        var cidrBlockState: State?
    }
    enum CodingKeys: String, CodingKey { case id = "vpcId", cidrBlock, associations = "cidrBlockAssociationSet", tags = "tagSet" }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        cidrBlock = try c.decode(String.self, forKey: .cidrBlock)
        let associated = try c.list(Association.self, forKey: .associations)
            .filter { ($0.cidrBlockState?.state ?? "associated") == "associated" }.map(\.cidrBlock)
        cidrBlocks = associated.contains(cidrBlock) ? associated : [cidrBlock] + associated
        tags = try c.list(Tag.self, forKey: .tags)
    }
}

/// DescribeInstanceTypes' `NetworkInfo` and the fields around it that the limits need.
public struct InstanceTypeInfo: Hashable, Sendable, Decodable {
    public var instanceType: String
    public var hypervisor: String?
    public var bareMetal: Bool
    public var maximumNetworkInterfaces: Int
    public var ipv4AddressesPerInterface: Int
    public var defaultNetworkCardIndex: Int
    /// (card index, max ENIs on that card)
    public var networkCards: [NetworkCard]

    public struct NetworkCard: Hashable, Sendable, Decodable {
        public var networkCardIndex: Int
        public var maximumNetworkInterfaces: Int
    }
    struct NetworkInfo: Decodable {
        var maximumNetworkInterfaces: Int
        var ipv4AddressesPerInterface: Int
        var defaultNetworkCardIndex: Int?
        var networkCards: XMLList<NetworkCard>?
    }
    enum CodingKeys: String, CodingKey { case instanceType, hypervisor, bareMetal, networkInfo }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        instanceType = try c.decode(String.self, forKey: .instanceType)
        hypervisor = try c.text(.hypervisor)
        bareMetal = try c.decodeIfPresent(Bool.self, forKey: .bareMetal) ?? false
        let info = try c.decode(NetworkInfo.self, forKey: .networkInfo)
        maximumNetworkInterfaces = info.maximumNetworkInterfaces
        ipv4AddressesPerInterface = info.ipv4AddressesPerInterface
        defaultNetworkCardIndex = info.defaultNetworkCardIndex ?? 0
        networkCards = info.networkCards?.items ?? []
    }
}
