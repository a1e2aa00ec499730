import Foundation

// The EC2 operations vpcnet's controller issues, typed. Parameter names follow the EC2 Query API
// (lists are `Name.N`, 1-based; structures `Name.N.Member`). Written by hand: no SDK here.

/// Builds Query API parameters in order.
struct QueryParameters {
    private(set) var pairs: [(String, String)] = []

    mutating func add(_ name: String, _ value: String?) {
        if let value { pairs.append((name, value)) }
    }
    mutating func add(_ name: String, _ value: Int?) { add(name, value.map(String.init)) }
    mutating func add(_ name: String, _ value: Bool?) { add(name, value.map { $0 ? "true" : "false" }) }

    mutating func list(_ name: String, _ values: [String]) {
        for (i, value) in values.enumerated() { pairs.append(("\(name).\(i + 1)", value)) }
    }

    mutating func filters(_ filters: [Filter]) {
        for (i, filter) in filters.enumerated() {
            pairs.append(("Filter.\(i + 1).Name", filter.name))
            for (j, value) in filter.values.enumerated() { pairs.append(("Filter.\(i + 1).Value.\(j + 1)", value)) }
        }
    }

    mutating func tags(_ prefix: String, _ tags: [Tag]) {
        for (i, tag) in tags.enumerated() {
            pairs.append(("\(prefix).\(i + 1).Key", tag.key))
            pairs.append(("\(prefix).\(i + 1).Value", tag.value))
        }
    }
}

extension EC2Client {
    /// Follows `NextToken` until the last page, collecting every item. A page limit guards
    /// against a server that never stops paging.
    func paginate<Page: Decodable & Paged>(_ action: EC2Action, _ parameters: [(String, String)], pageSize: Int?,
                                           as page: Page.Type) async throws(EC2Error) -> [Page.Item] {
        var items: [Page.Item] = []
        var token: String?
        for _ in 0..<10_000 {
            var params = parameters
            if let pageSize { params.append(("MaxResults", String(pageSize))) }
            if let token { params.append(("NextToken", token)) }
            let response = try await call(action, params, as: Page.self)
            items += response.pageItems
            guard let next = response.nextToken, !next.isEmpty, next != token else { return items }
            token = next
        }
        throw .invalidResponse(status: 200, detail: "\(action.rawValue) returned more than 10000 pages")
    }

    // MARK: Describe

    public func describeInstances(ids: [String] = [], filters: [Filter] = []) async throws(EC2Error) -> [Instance] {
        var p = QueryParameters()
        p.list("InstanceId", ids)
        p.filters(filters)
        // EC2 rejects MaxResults together with InstanceId.
        return try await paginate(.describeInstances, p.pairs, pageSize: ids.isEmpty ? 1000 : nil, as: DescribeInstancesPage.self)
    }

    public func describeInstanceTypes(_ types: [String]) async throws(EC2Error) -> [InstanceTypeInfo] {
        var p = QueryParameters()
        p.list("InstanceType", types)
        return try await paginate(.describeInstanceTypes, p.pairs, pageSize: types.isEmpty ? 100 : nil, as: InstanceTypesPage.self)
    }

    public func describeSubnets(ids: [String] = [], filters: [Filter] = []) async throws(EC2Error) -> [Subnet] {
        var p = QueryParameters()
        p.list("SubnetId", ids)
        p.filters(filters)
        return try await paginate(.describeSubnets, p.pairs, pageSize: ids.isEmpty ? 1000 : nil, as: SubnetsPage.self)
    }

    public func describeSecurityGroups(ids: [String] = [], filters: [Filter] = []) async throws(EC2Error) -> [SecurityGroup] {
        var p = QueryParameters()
        p.list("GroupId", ids)
        p.filters(filters)
        return try await paginate(.describeSecurityGroups, p.pairs, pageSize: ids.isEmpty ? 1000 : nil, as: SecurityGroupsPage.self)
    }

    public func describeVPCs(ids: [String] = [], filters: [Filter] = []) async throws(EC2Error) -> [VPC] {
        var p = QueryParameters()
        p.list("VpcId", ids)
        p.filters(filters)
        return try await paginate(.describeVpcs, p.pairs, pageSize: ids.isEmpty ? 1000 : nil, as: VPCsPage.self)
    }

    public func describeNetworkInterfaces(ids: [String] = [], filters: [Filter] = [], pageSize: Int? = nil)
        async throws(EC2Error) -> [NetworkInterface] {
        var p = QueryParameters()
        p.list("NetworkInterfaceId", ids)
        p.filters(filters)
        return try await paginate(.describeNetworkInterfaces, p.pairs, pageSize: ids.isEmpty ? (pageSize ?? 1000) : nil,
                                  as: NetworkInterfacesPage.self)
    }

    // MARK: ENI lifecycle

    public struct CreateNetworkInterfaceRequest: Sendable {
        public var subnetID: String
        public var securityGroupIDs: [String]
        public var description: String?
        public var tags: [Tag]
        public var secondaryPrivateIPAddressCount: Int?
        public var ipv4PrefixCount: Int?
        /// Makes the create idempotent: a retry with the same token returns the first ENI. When
        /// nil, a fresh token is generated per call (as botocore does), so the client's own retries
        /// after a lost response never create a second ENI.
        public var clientToken: String?

        public init(subnetID: String, securityGroupIDs: [String], description: String? = nil, tags: [Tag] = [],
                    secondaryPrivateIPAddressCount: Int? = nil, ipv4PrefixCount: Int? = nil, clientToken: String? = nil) {
            self.subnetID = subnetID
            self.securityGroupIDs = securityGroupIDs
            self.description = description
            self.tags = tags
            self.secondaryPrivateIPAddressCount = secondaryPrivateIPAddressCount
            self.ipv4PrefixCount = ipv4PrefixCount
            self.clientToken = clientToken
        }
    }

    public func createNetworkInterface(_ request: CreateNetworkInterfaceRequest) async throws(EC2Error) -> NetworkInterface {
        if request.secondaryPrivateIPAddressCount != nil && request.ipv4PrefixCount != nil {
            throw .invalidRequest("secondary address count and IPv4 prefix count cannot be combined")
        }
        var p = QueryParameters()
        p.add("SubnetId", request.subnetID)
        p.list("SecurityGroupId", request.securityGroupIDs)
        p.add("Description", request.description)
        p.add("SecondaryPrivateIpAddressCount", request.secondaryPrivateIPAddressCount)
        p.add("Ipv4PrefixCount", request.ipv4PrefixCount)
        p.add("ClientToken", request.clientToken ?? UUID().uuidString.lowercased())
        if !request.tags.isEmpty {
            p.add("TagSpecification.1.ResourceType", "network-interface")
            p.tags("TagSpecification.1.Tag", request.tags)
        }
        return try await call(.createNetworkInterface, p.pairs, as: CreateNetworkInterfaceResponse.self).networkInterface
    }

    /// Attaches an ENI; returns the attachment ID.
    public func attachNetworkInterface(id: String, instanceID: String, deviceIndex: Int, networkCardIndex: Int? = nil)
        async throws(EC2Error) -> String {
        var p = QueryParameters()
        p.add("NetworkInterfaceId", id)
        p.add("InstanceId", instanceID)
        p.add("DeviceIndex", deviceIndex)
        p.add("NetworkCardIndex", networkCardIndex)
        return try await call(.attachNetworkInterface, p.pairs, as: AttachResponse.self).attachmentId
    }

    public func detachNetworkInterface(attachmentID: String, force: Bool = false) async throws(EC2Error) {
        var p = QueryParameters()
        p.add("AttachmentId", attachmentID)
        if force { p.add("Force", true) }
        _ = try await send(.detachNetworkInterface, p.pairs)
    }

    public func deleteNetworkInterface(id: String) async throws(EC2Error) {
        _ = try await send(.deleteNetworkInterface, [("NetworkInterfaceId", id)])
    }

    /// One attribute per ModifyNetworkInterfaceAttribute call, as EC2 requires.
    public enum NetworkInterfaceAttribute: Sendable {
        case deleteOnTermination(attachmentID: String, Bool)
        case sourceDestCheck(Bool)
        case securityGroups([String])
        case description(String)
    }

    public func modifyNetworkInterfaceAttribute(id: String, _ attribute: NetworkInterfaceAttribute) async throws(EC2Error) {
        var p = QueryParameters()
        p.add("NetworkInterfaceId", id)
        switch attribute {
        case .deleteOnTermination(let attachmentID, let value):
            p.add("Attachment.AttachmentId", attachmentID)
            p.add("Attachment.DeleteOnTermination", value)
        case .sourceDestCheck(let value): p.add("SourceDestCheck.Value", value)
        case .securityGroups(let ids):
            guard !ids.isEmpty else { throw .invalidRequest("an ENI needs at least one security group") }
            p.list("SecurityGroupId", ids)
        case .description(let text): p.add("Description.Value", text)
        }
        _ = try await send(.modifyNetworkInterfaceAttribute, p.pairs)
    }

    // MARK: Addresses

    /// What to assign: a count chosen by EC2, or explicit addresses; likewise for /28 prefixes.
    public enum AddressRequest: Sendable {
        case count(Int)
        case addresses([String])
        case prefixCount(Int)
        case prefixes([String])
    }

    public struct Assigned: Sendable, Hashable {
        public var addresses: [String]
        public var prefixes: [String]
    }

    /// Assigns secondary addresses or prefixes; returns only what this call added.
    public func assignPrivateIPAddresses(id: String, _ request: AddressRequest, allowReassignment: Bool = false)
        async throws(EC2Error) -> Assigned {
        var p = QueryParameters()
        p.add("NetworkInterfaceId", id)
        switch request {
        case .count(let n): p.add("SecondaryPrivateIpAddressCount", n)
        case .addresses(let list): p.list("PrivateIpAddress", list)
        case .prefixCount(let n): p.add("Ipv4PrefixCount", n)
        case .prefixes(let list): p.list("Ipv4Prefix", list)
        }
        if allowReassignment { p.add("AllowReassignment", true) }
        let response = try await call(.assignPrivateIpAddresses, p.pairs, as: AssignResponse.self)
        return Assigned(addresses: response.addresses, prefixes: response.prefixes)
    }

    public func unassignPrivateIPAddresses(id: String, addresses: [String] = [], prefixes: [String] = []) async throws(EC2Error) {
        guard !addresses.isEmpty || !prefixes.isEmpty else { throw .invalidRequest("nothing to unassign") }
        var p = QueryParameters()
        p.add("NetworkInterfaceId", id)
        p.list("PrivateIpAddress", addresses)
        p.list("Ipv4Prefix", prefixes)
        _ = try await send(.unassignPrivateIpAddresses, p.pairs)
    }

    public func createTags(resourceIDs: [String], tags: [Tag]) async throws(EC2Error) {
        guard !resourceIDs.isEmpty, !tags.isEmpty else { throw .invalidRequest("CreateTags needs resources and tags") }
        var p = QueryParameters()
        p.list("ResourceId", resourceIDs)
        p.tags("Tag", tags)
        _ = try await send(.createTags, p.pairs)
    }
}

// MARK: - Response shapes

protocol Paged {
    associatedtype Item
    var pageItems: [Item] { get }
    var nextToken: String? { get }
}

struct DescribeInstancesPage: Decodable, Paged {
    struct Reservation: Decodable {
        var instancesSet: XMLList<Instance>?
    }
    var reservationSet: XMLList<Reservation>?
    var nextToken: String?
    var pageItems: [Instance] { (reservationSet?.items ?? []).flatMap { $0.instancesSet?.items ?? [] } }
}

struct InstanceTypesPage: Decodable, Paged {
    var instanceTypeSet: XMLList<InstanceTypeInfo>?
    var nextToken: String?
    var pageItems: [InstanceTypeInfo] { instanceTypeSet?.items ?? [] }
}

struct SubnetsPage: Decodable, Paged {
    var subnetSet: XMLList<Subnet>?
    var nextToken: String?
    var pageItems: [Subnet] { subnetSet?.items ?? [] }
}

struct SecurityGroupsPage: Decodable, Paged {
    var securityGroupInfo: XMLList<SecurityGroup>?
    var nextToken: String?
    var pageItems: [SecurityGroup] { securityGroupInfo?.items ?? [] }
}

struct VPCsPage: Decodable, Paged {
    var vpcSet: XMLList<VPC>?
    var nextToken: String?
    var pageItems: [VPC] { vpcSet?.items ?? [] }
}

struct NetworkInterfacesPage: Decodable, Paged {
    var networkInterfaceSet: XMLList<NetworkInterface>?
    var nextToken: String?
    var pageItems: [NetworkInterface] { networkInterfaceSet?.items ?? [] }
}

struct CreateNetworkInterfaceResponse: Decodable {
    var networkInterface: NetworkInterface
}

struct AttachResponse: Decodable {
    var attachmentId: String
}

struct AssignResponse: Decodable {
    struct Address: Decodable { var privateIpAddress: String }
    var assignedPrivateIpAddressesSet: XMLList<Address>?
    var assignedIpv4PrefixSet: XMLList<IPv4PrefixItem>?
    var addresses: [String] { assignedPrivateIpAddressesSet?.items.map(\.privateIpAddress) ?? [] }
    var prefixes: [String] { assignedIpv4PrefixSet?.items.map(\.ipv4Prefix) ?? [] }
}
