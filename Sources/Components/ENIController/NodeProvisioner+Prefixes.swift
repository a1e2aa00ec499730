import AWSEC2
import VPCNetCore

/// An ENI that got single addresses instead of the /28 prefixes asked for, because its subnet had
/// no free aligned /28 (`InsufficientCidrBlocks`): the node keeps its capacity, and the Warning
/// Event `PrefixDelegationFallback` says so.
public struct PrefixFallback: Hashable, Sendable {
    public var eniID: String
    public var subnetID: String
    public var prefixesAsked: Int
    public var singlesGiven: Int
    /// Free aligned /28s the controller counted in the subnet when EC2 refused (nil: not counted).
    public var freePrefixes: Int?
}

/// Asking EC2 for an ENI's addresses, prefixes first, single addresses when the subnet has no
/// free /28. A subnet that refused prefixes is asked for single addresses only until
/// ``ProvisionerSettings/subnetBackoff`` has passed, so a fragmented subnet costs one refused call
/// per backoff, not one per ENI.
extension NodeProvisioner {
    func createENI(_ base: EC2Client.CreateNetworkInterfaceRequest,
                   _ addresses: AddressRequest) async throws(ProvisioningError) -> (NetworkInterface, PrefixFallback?) {
        func create(prefixes: Int, singles: Int) async throws(EC2Error) -> NetworkInterface {
            var request = base
            request.ipv4PrefixCount = prefixes > 0 ? prefixes : nil
            request.secondaryPrivateIPAddressCount = prefixes > 0 || singles == 0 ? nil : singles
            return try await ec2.createNetworkInterface(request)
        }
        var (eni, fallback) = try await prefixesOrSingles(
            addresses, subnetID: base.subnetID, action: .createNetworkInterface,
            prefixes: { () async throws(EC2Error) in try await create(prefixes: addresses.prefixes, singles: 0) },
            singles: { () async throws(EC2Error) in try await create(prefixes: 0, singles: addresses.singles) })
        fallback?.eniID = eni.id
        return (eni, fallback)
    }

    func assign(_ addresses: AddressRequest, to eniID: String, subnetID: String) async throws(ProvisioningError) -> PrefixFallback? {
        var (_, fallback) = try await prefixesOrSingles(
            addresses, subnetID: subnetID, action: .assignPrivateIpAddresses,
            prefixes: { () async throws(EC2Error) in try await self.ec2.assignPrivateIPAddresses(id: eniID, .prefixCount(addresses.prefixes)) },
            singles: { () async throws(EC2Error) in try await self.ec2.assignPrivateIPAddresses(id: eniID, .count(addresses.singles)) })
        fallback?.eniID = eniID
        return fallback
    }

    /// Runs `prefixes` when `addresses` asks for prefixes and the subnet has not refused them
    /// lately; `singles` when it does not, or EC2 refuses with `InsufficientCidrBlocks` (then the
    /// fallback says so). A subnet out of addresses altogether is passed over for the backoff
    /// and throws ``ProvisioningError/noFreeAddresses(subnetID:)``.
    private func prefixesOrSingles<T: Sendable>(
        _ addresses: AddressRequest, subnetID: String, action: EC2Action,
        prefixes: () async throws(EC2Error) -> T, singles: () async throws(EC2Error) -> T
    ) async throws(ProvisioningError) -> (T, PrefixFallback?) {
        var fallback: PrefixFallback?
        if addresses.prefixes > 0 {
            if let known = refusedPrefixes(subnetID) {
                fallback = PrefixFallback(eniID: "", subnetID: subnetID, prefixesAsked: addresses.prefixes,
                                          singlesGiven: addresses.singles, freePrefixes: known)
            } else {
                do {
                    return (try await prefixes(), nil)
                } catch where error.code == .insufficientCidrBlocks {
                    fallback = await prefixesRefused(subnetID: subnetID, addresses)
                } catch {
                    throw subnetFull(subnetID, error) ?? .ec2(error, action: action)
                }
            }
        }
        if isExhausted(subnetID) { throw .noFreeAddresses(subnetID: subnetID) }
        do {
            return (try await singles(), fallback)
        } catch {
            throw subnetFull(subnetID, error) ?? .ec2(error, action: action)
        }
    }

    /// ``ProvisioningError/noFreeAddresses(subnetID:)`` when `error` says the subnet is out of
    /// addresses, after marking it so for ``ProvisionerSettings/subnetBackoff``.
    private func subnetFull(_ subnetID: String, _ error: EC2Error) -> ProvisioningError? {
        guard error.code == .insufficientFreeAddressesInSubnet else { return nil }
        let until = ContinuousClock.now + settings.subnetBackoff
        exhaustedSubnets.withLock { $0[subnetID] = until }
        return .noFreeAddresses(subnetID: subnetID)
    }

    func isExhausted(_ subnetID: String) -> Bool {
        let now = ContinuousClock.now
        return exhaustedSubnets.withLock { map in
            map = map.filter { $0.value > now }
            return map[subnetID] != nil
        }
    }

    /// The free /28 count recorded when the subnet last refused prefixes (`.some(nil)`: not
    /// counted), or nil when prefixes may be asked for.
    private func refusedPrefixes(_ subnetID: String) -> Int?? {
        let now = ContinuousClock.now
        return prefixlessSubnets.withLock { map -> Int?? in
            guard let entry = map[subnetID] else { return nil }
            guard entry.until > now else {
                map[subnetID] = nil
                return nil
            }
            return .some(entry.freePrefixes)
        }
    }

    private func prefixesRefused(subnetID: String, _ addresses: AddressRequest) async -> PrefixFallback {
        let free = await freePrefixCount(subnetID: subnetID)
        let until = ContinuousClock.now + settings.subnetBackoff
        prefixlessSubnets.withLock { $0[subnetID] = (until, free) }
        logger.warning("subnet has no free /28 for prefixes; single addresses instead",
                       metadata: ["subnet": "\(subnetID)", "freePrefixes": "\(free.map(String.init) ?? "unknown")"])
        return PrefixFallback(eniID: "", subnetID: subnetID, prefixesAsked: addresses.prefixes, singlesGiven: addresses.singles,
                              freePrefixes: free)
    }

    /// Aligned /28s of the subnet that hold no address of any ENI and none EC2 reserves: what
    /// prefixes can still come from. EC2 reports no such count, so it is derived from the
    /// subnet's ENIs (one paged Describe, made only when EC2 has refused prefixes).
    func freePrefixCount(subnetID: String) async -> Int? {
        guard let subnet = try? await subnet(subnetID), let cidr = try? IPv4CIDR(parsing: subnet.cidrBlock),
              cidr.prefixLength <= NodeNetworkRecord.ipv4PrefixLength else { return nil }
        let filters = [Filter("subnet-id", [subnetID])]
        guard let enis = try? await call(.describeNetworkInterfaces, { () async throws(EC2Error) in
            try await self.ec2.describeNetworkInterfaces(filters: filters)
        }) else { return nil }
        return Self.freePrefixes(in: cidr, used: enis.flatMap { eni in
            ([eni.privateIPAddress] + eni.secondaryIPAddresses).compactMap { IPv4Address($0) }
                + eni.ipv4Prefixes.compactMap { try? IPv4CIDR(parsing: $0).network }
        })
    }

    /// The aligned /28s of `cidr` that contain none of `used` and none of EC2's reserved addresses.
    static func freePrefixes(in cidr: IPv4CIDR, used: [IPv4Address]) -> Int {
        let shift = UInt32(32 - NodeNetworkRecord.ipv4PrefixLength)
        let blocks = Int(cidr.size >> UInt64(shift))
        var taken = Set((used + cidr.awsReservedAddresses).filter(cidr.contains).map { ($0.rawValue - cidr.network.rawValue) >> shift })
        taken = taken.filter { $0 < UInt32(blocks) }
        return blocks - taken.count
    }
}
