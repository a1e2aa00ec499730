#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the eni-controller found in EC2 for one node, stored as JSON in the Node's
/// ``WellKnown/Annotations/nodeNetwork`` annotation and read by that node's daemon.
///
/// The controller always derives it from EC2's state (never from memory), so the daemon can treat
/// it as the truth for its node. It lists every attached ENI, the primary one (device index 0,
/// the host's) included; pods use the secondary addresses of the others.
///
/// Compatibility contract: the document carries a `version`. A reader accepts only the versions in
/// ``supportedVersions`` and rejects unknown fields, so a record it cannot fully understand is a
/// clear error, never a silently partial configuration. Any change of fields is a new version;
/// writers emit the oldest version that holds the record, so during a rolling upgrade a node
/// without prefixes stays readable by daemons that predate them.
///
/// - Version 1: addresses are single /32s (`secondaryIPs`).
/// - Version 2: an ENI may also carry delegated IPv4 prefixes (`ipv4Prefixes`), every address of
///   which is a pod address. Fields named `ipv6…` are reserved for the IPv6 family (a delegated
///   /80 per ENI): a reader that configures no IPv6 ignores them, so dual-stack records need no
///   new version for readers that stay IPv4-only.
/// - Version 3: a pod ENI may belong to a NetworkProfile (`profile`): its addresses go only to
///   pods that select that profile. A node with no profile ENI is written as version 1 or 2, so a
///   rolling upgrade breaks no older daemon until profiles are used.
public struct NodeNetworkRecord: Hashable, Sendable {
    public static let currentVersion = 3
    public static let supportedVersions: ClosedRange<Int> = 1...3
    /// The prefix length of a delegated IPv4 prefix.
    public static let ipv4PrefixLength = 28

    public var instanceID: InstanceID
    public var instanceType: String
    public var availabilityZone: String
    public var vpcID: VPCID
    /// Every IPv4 CIDR block of the VPC: traffic to them is never SNATed.
    public var vpcCIDRs: [IPv4CIDR]
    /// All attached ENIs, ordered by device index; device index 0 is the primary.
    public var enis: [ENI]

    public struct ENI: Hashable, Sendable, Codable {
        public var id: NetworkInterfaceID
        public var macAddress: MACAddress
        public var deviceIndex: Int
        public var subnetID: SubnetID
        public var subnetCIDR: IPv4CIDR
        /// The subnet's VPC router; the default route of this ENI's table points here.
        public var gateway: IPv4Address
        public var securityGroupIDs: [SecurityGroupID]
        public var primaryIP: IPv4Address
        /// For pod ENIs, single pod addresses; empty on the primary ENI.
        public var secondaryIPs: [IPv4Address]
        /// For pod ENIs, delegated /28 prefixes whose every address is a pod address (version 2).
        public var ipv4Prefixes: [IPv4CIDR]
        /// The NetworkProfile whose pods this ENI's addresses are for; nil: the node's own (version 3).
        public var profile: String?

        public init(id: NetworkInterfaceID, macAddress: MACAddress, deviceIndex: Int, subnetID: SubnetID,
                    subnetCIDR: IPv4CIDR, gateway: IPv4Address, securityGroupIDs: [SecurityGroupID],
                    primaryIP: IPv4Address, secondaryIPs: [IPv4Address], ipv4Prefixes: [IPv4CIDR] = [], profile: String? = nil) {
            self.id = id
            self.macAddress = macAddress
            self.deviceIndex = deviceIndex
            self.subnetID = subnetID
            self.subnetCIDR = subnetCIDR
            self.gateway = gateway
            self.securityGroupIDs = securityGroupIDs
            self.primaryIP = primaryIP
            self.secondaryIPs = secondaryIPs
            self.ipv4Prefixes = ipv4Prefixes
            self.profile = profile
        }

        /// Every pod address of the ENI: its single addresses, then those of its prefixes.
        public var podAddresses: [IPv4Address] { secondaryIPs + ipv4Prefixes.flatMap { Array($0.addresses) } }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case id, macAddress = "mac", deviceIndex, subnetID, subnetCIDR, gateway
            case securityGroupIDs = "securityGroups", primaryIP, secondaryIPs, ipv4Prefixes, profile
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(macAddress, forKey: .macAddress)
            try c.encode(deviceIndex, forKey: .deviceIndex)
            try c.encode(subnetID, forKey: .subnetID)
            try c.encode(subnetCIDR, forKey: .subnetCIDR)
            try c.encode(gateway, forKey: .gateway)
            try c.encode(securityGroupIDs, forKey: .securityGroupIDs)
            try c.encode(primaryIP, forKey: .primaryIP)
            try c.encode(secondaryIPs, forKey: .secondaryIPs)
            // Absent rather than empty, so a record without prefixes is byte-for-byte version 1.
            if !ipv4Prefixes.isEmpty { try c.encode(ipv4Prefixes, forKey: .ipv4Prefixes) }
            try c.encodeIfPresent(profile, forKey: .profile)
        }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue), reservedPrefix: "ipv6")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(NetworkInterfaceID.self, forKey: .id)
            macAddress = try c.decode(MACAddress.self, forKey: .macAddress)
            deviceIndex = try c.decode(Int.self, forKey: .deviceIndex)
            subnetID = try c.decode(SubnetID.self, forKey: .subnetID)
            subnetCIDR = try c.decode(IPv4CIDR.self, forKey: .subnetCIDR)
            gateway = try c.decode(IPv4Address.self, forKey: .gateway)
            securityGroupIDs = try c.decode([SecurityGroupID].self, forKey: .securityGroupIDs)
            primaryIP = try c.decode(IPv4Address.self, forKey: .primaryIP)
            secondaryIPs = try c.decode([IPv4Address].self, forKey: .secondaryIPs)
            ipv4Prefixes = try c.decodeIfPresent([IPv4CIDR].self, forKey: .ipv4Prefixes) ?? []
            profile = try c.decodeIfPresent(String.self, forKey: .profile)
        }
    }

    public init(instanceID: InstanceID, instanceType: String, availabilityZone: String, vpcID: VPCID,
                vpcCIDRs: [IPv4CIDR], enis: [ENI]) {
        self.instanceID = instanceID
        self.instanceType = instanceType
        self.availabilityZone = availabilityZone
        self.vpcID = vpcID
        self.vpcCIDRs = vpcCIDRs
        self.enis = enis.sorted { $0.deviceIndex < $1.deviceIndex }
    }

    /// The host's ENI (device index 0).
    public var primaryENI: ENI? { enis.first { $0.deviceIndex == 0 } }

    /// The ENIs whose secondary addresses are handed to pods (profiles' included).
    public var podENIs: [ENI] { enis.filter { $0.deviceIndex != 0 } }

    /// The pod ENIs of one profile; nil: the node's own (pods without a profile).
    public func podENIs(profile: String?) -> [ENI] { podENIs.filter { $0.profile == profile } }

    /// The profiles the node carries, by name.
    public var profiles: [String] { Set(podENIs.compactMap(\.profile)).sorted() }

    /// Every pod address of the node, in ENI order.
    public var podAddresses: [IPv4Address] { podENIs.flatMap(\.podAddresses) }

    /// The oldest record version that holds this record: what ``jsonString()`` writes.
    public var version: Int {
        if enis.contains(where: { $0.profile != nil }) { return 3 }
        return enis.contains { !$0.ipv4Prefixes.isEmpty } ? 2 : 1
    }
}

// MARK: - JSON

extension NodeNetworkRecord: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, instanceID, instanceType, availabilityZone, vpcID, vpcCIDRs, enis
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard Self.supportedVersions.contains(version) else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c, debugDescription: "unsupported version \(version)")
        }
        try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue), reservedPrefix: version >= 2 ? "ipv6" : nil)
        self.init(
            instanceID: try c.decode(InstanceID.self, forKey: .instanceID),
            instanceType: try c.decode(String.self, forKey: .instanceType),
            availabilityZone: try c.decode(String.self, forKey: .availabilityZone),
            vpcID: try c.decode(VPCID.self, forKey: .vpcID),
            vpcCIDRs: try c.decode([IPv4CIDR].self, forKey: .vpcCIDRs),
            enis: try c.decode([ENI].self, forKey: .enis))
        if version < 2, let i = enis.firstIndex(where: { !$0.ipv4Prefixes.isEmpty }) {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.enis, AnyCodingKey(intValue: i)!, ENI.CodingKeys.ipv4Prefixes],
                                                    debugDescription: "prefixes need record version 2"))
        }
        if version < 3, let i = enis.firstIndex(where: { $0.profile != nil }) {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.enis, AnyCodingKey(intValue: i)!, ENI.CodingKeys.profile],
                                                    debugDescription: "profiles need record version 3"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(instanceID, forKey: .instanceID)
        try c.encode(instanceType, forKey: .instanceType)
        try c.encode(availabilityZone, forKey: .availabilityZone)
        try c.encode(vpcID, forKey: .vpcID)
        try c.encode(vpcCIDRs, forKey: .vpcCIDRs)
        try c.encode(enis, forKey: .enis)
    }

    /// The annotation value: compact JSON with sorted keys, so an unchanged record encodes to
    /// identical bytes and the controller can skip no-op updates.
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every field is a plain string, number or array of them: encoding cannot fail.
        let data = try! encoder.encode(self)
        return String(decoding: data, as: UTF8.self)
    }

    /// Decodes and validates an annotation value. Every failure names what is wrong and where.
    public init(json: String) throws(NodeNetworkRecordError) {
        let data = Data(json.utf8)
        let record: NodeNetworkRecord
        do {
            // Probe the version first, so an unknown version is reported as such rather than as
            // whatever field the newer format changed.
            let probe = try JSONDecoder().decode(VersionProbe.self, from: data)
            guard let version = probe.version else { throw NodeNetworkRecordError.missingVersion }
            guard Self.supportedVersions.contains(version) else {
                throw NodeNetworkRecordError.unsupportedVersion(version, supported: Self.supportedVersions)
            }
            record = try JSONDecoder().decode(NodeNetworkRecord.self, from: data)
        } catch let error as NodeNetworkRecordError {
            throw error
        } catch let error as DecodingError {
            throw NodeNetworkRecordError(error)
        } catch {
            throw .malformedJSON(String(describing: error))
        }
        try record.validate()
        self = record
    }

    private struct VersionProbe: Decodable {
        var version: Int?
    }
}

// MARK: - Validation

extension NodeNetworkRecord {
    /// Checks the invariants every reader relies on; the controller calls it before writing.
    public func validate() throws(NodeNetworkRecordError) {
        func fail(_ path: String, _ reason: String) -> NodeNetworkRecordError { .invalid(path: path, reason: reason) }
        if instanceType.isEmpty { throw fail("instanceType", "must not be empty") }
        if availabilityZone.isEmpty { throw fail("availabilityZone", "must not be empty") }
        if vpcCIDRs.isEmpty { throw fail("vpcCIDRs", "must list at least the VPC's primary CIDR") }
        if enis.filter({ $0.deviceIndex == 0 }).count != 1 {
            throw fail("enis", "must contain exactly one primary ENI (device index 0)")
        }
        var seenIndexes = Set<Int>(), seenIDs = Set<NetworkInterfaceID>(), seenMACs = Set<MACAddress>()
        var owner: [IPv4Address: NetworkInterfaceID] = [:]
        for (i, eni) in enis.enumerated() {
            let path = "enis[\(i)]"
            guard eni.deviceIndex >= 0 else { throw fail("\(path).deviceIndex", "must not be negative") }
            guard seenIndexes.insert(eni.deviceIndex).inserted else { throw fail("\(path).deviceIndex", "\(eni.deviceIndex) is used twice") }
            guard seenIDs.insert(eni.id).inserted else { throw fail("\(path).id", "\(eni.id) is listed twice") }
            guard seenMACs.insert(eni.macAddress).inserted else { throw fail("\(path).mac", "\(eni.macAddress) is used twice") }
            if eni.securityGroupIDs.isEmpty { throw fail("\(path).securityGroups", "an ENI always has at least one security group") }
            let subnet = eni.subnetCIDR
            if !vpcCIDRs.contains(where: { $0.contains(subnet) }) {
                throw fail("\(path).subnetCIDR", "\(subnet) is not inside the VPC CIDRs \(vpcCIDRs.map(\.description))")
            }
            let usable = { (ip: IPv4Address) in subnet.contains(ip) && ip != subnet.network && ip != subnet.broadcast }
            if !usable(eni.gateway) { throw fail("\(path).gateway", "\(eni.gateway) is not a host address of \(subnet)") }
            func hold(_ ip: IPv4Address, _ field: String) throws(NodeNetworkRecordError) {
                if !usable(ip) { throw fail(field, "\(ip) is not a host address of subnet \(subnet)") }
                if ip == eni.gateway { throw fail(field, "\(ip) is the subnet gateway") }
                if let other = owner.updateValue(eni.id, forKey: ip) {
                    throw fail(field, "\(ip) is also held by \(other)")
                }
            }
            try hold(eni.primaryIP, "\(path).primaryIP")
            for (j, ip) in eni.secondaryIPs.enumerated() { try hold(ip, "\(path).secondaryIPs[\(j)]") }
            if eni.deviceIndex == 0, !eni.ipv4Prefixes.isEmpty { throw fail("\(path).ipv4Prefixes", "the primary ENI lends no prefixes to pods") }
            if let profile = eni.profile {
                if eni.deviceIndex == 0 { throw fail("\(path).profile", "the primary ENI belongs to the host, not to a profile") }
                if !Self.isProfileName(profile) { throw fail("\(path).profile", "\"\(profile)\" is not a NetworkProfile name (a DNS subdomain)") }
            }
            for (j, prefix) in eni.ipv4Prefixes.enumerated() {
                let field = "\(path).ipv4Prefixes[\(j)]"
                guard prefix.prefixLength == Self.ipv4PrefixLength else { throw fail(field, "\(prefix) is not a /\(Self.ipv4PrefixLength)") }
                for ip in prefix.addresses { try hold(ip, field) }
            }
        }
    }
}

extension NodeNetworkRecord {
    /// A NetworkProfile's name, as Kubernetes names cluster-scoped objects: a DNS subdomain
    /// (lowercase letters, digits, '-' and '.', at most 253, alphanumeric at both ends).
    public static func isProfileName(_ name: String) -> Bool {
        guard let first = name.utf8.first, let last = name.utf8.last, name.utf8.count <= 253 else { return false }
        let alphanumeric = { (c: UInt8) in (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }
        return alphanumeric(first) && alphanumeric(last) && name.utf8.allSatisfy { alphanumeric($0) || $0 == 0x2d || $0 == 0x2e }
    }
}

/// Why a node network record could not be read.
public enum NodeNetworkRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformedJSON(String)
    case missingVersion
    case unsupportedVersion(Int, supported: ClosedRange<Int>)
    /// A field is missing, of the wrong type or value, unknown, or breaks an invariant; `path` is
    /// a JSON path such as `enis[1].secondaryIPs[3]`.
    case invalid(path: String, reason: String)

    public var description: String {
        let prefix = "node network record"
        switch self {
        case .malformedJSON(let detail): return "\(prefix): not valid JSON: \(detail)"
        case .missingVersion: return "\(prefix): no 'version' field"
        case .unsupportedVersion(let v, let supported):
            return "\(prefix): version \(v) is not supported by this build (supports \(supported.lowerBound)...\(supported.upperBound)); upgrade vpcnet"
        case .invalid(let path, let reason): return "\(prefix): \(path.isEmpty ? "<root>" : path): \(reason)"
        }
    }

    init(_ error: DecodingError) {
        func render(_ path: [any CodingKey]) -> String {
            path.reduce(into: "") { out, key in
                if let index = key.intValue { out += "[\(index)]" } else { out += out.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .invalid(path: render(context.codingPath + [key]), reason: "required field is missing")
        case .typeMismatch(let type, let context):
            self = .invalid(path: render(context.codingPath), reason: "expected \(type)")
        case .valueNotFound(let type, let context):
            self = .invalid(path: render(context.codingPath), reason: "expected \(type), found null")
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self = .malformedJSON(context.debugDescription)
        case .dataCorrupted(let context):
            self = .invalid(path: render(context.codingPath), reason: context.debugDescription)
        @unknown default:
            self = .malformedJSON(String(describing: error))
        }
    }
}

/// Throws when the object being decoded has a key outside `known` (keys starting with
/// `reservedPrefix` excepted: they belong to a later feature a reader may ignore).
func rejectUnknownKeys(in decoder: any Decoder, known: [String], reservedPrefix: String? = nil) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let unknown = container.allKeys.first { key in
        !known.contains(key.stringValue) && !(reservedPrefix.map { key.stringValue.hasPrefix($0) } ?? false)
    }
    if let unknown {
        throw DecodingError.dataCorrupted(.init(
            codingPath: container.codingPath + [unknown],
            debugDescription: "unknown field (known: \(known.joined(separator: ", ")))"))
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}
