import Testing
@testable import VPCNetCore

@Suite struct InstanceTypeLimitsTests {
    @Test(arguments: [
        ("m5.large", 3, 10, 18), ("t3.medium", 3, 6, 10), ("c5.18xlarge", 15, 50, 686), ("t2.micro", 2, 2, 1),
        ("c5.large", 3, 10, 18), ("m4.large", 2, 10, 9), ("r5.24xlarge", 15, 50, 686), ("t3.nano", 2, 2, 1),
    ])
    func spotChecksMatchAWS(type: String, enis: Int, ips: Int, pods: Int) throws {
        let limits = try #require(InstanceTypeLimits.forType(type))
        #expect(limits.maxENIs == enis)
        #expect(limits.ipv4AddressesPerENI == ips)
        #expect(limits.maxPodAddresses() == pods)
    }

    @Test func tableCoversCurrentTypesAndParsesEveryRow() {
        #expect(InstanceTypeLimits.all.count > 1000)
        #expect(InstanceTypeLimits.all.count == InstanceTypeLimits.tableRowCount, "a generated row failed to parse")
        #expect(InstanceTypeLimits.forType("m99.nonexistent") == nil)
        #expect(InstanceTypeLimits.tableDataDate.count == 10)
        for limits in InstanceTypeLimits.all.values {
            #expect(limits.maxENIs >= 1 && limits.ipv4AddressesPerENI >= 1)
            #expect(limits.maxENIsOnDefaultCard <= limits.maxENIs)
            #expect(limits.networkCards >= 1)
        }
    }

    @Test func hypervisorAndPrefixDelegation() throws {
        let nitro = try #require(InstanceTypeLimits.forType("m5.large"))
        #expect(nitro.hypervisor == .nitro && nitro.supportsPrefixDelegation)
        #expect(nitro.maxPodAddresses(prefixDelegation: true) == 18 * 16)
        let xen = try #require(InstanceTypeLimits.forType("t2.micro"))
        #expect(xen.hypervisor == .xen && !xen.supportsPrefixDelegation)
        #expect(xen.maxPodAddresses(prefixDelegation: true) == nil)
        let metal = try #require(InstanceTypeLimits.forType("m5.metal"))
        #expect(metal.isBareMetal && metal.hypervisor == InstanceTypeLimits.Hypervisor.none && metal.supportsPrefixDelegation)
        let multiCard = try #require(InstanceTypeLimits.forType("c6in.32xlarge"))
        #expect(multiCard.networkCards == 2 && multiCard.maxENIs == 16 && multiCard.maxENIsOnDefaultCard == 8)
        #expect(multiCard.maxPodAddresses() == 7 * 49, "only the default card's ENIs carry pods")
    }

    @Test func podAddressLimitFormula() {
        #expect(InstanceTypeLimits.podAddressLimit(maxENIs: 3, ipv4AddressesPerENI: 10) == 18)
        #expect(InstanceTypeLimits.podAddressLimit(maxENIs: 8, ipv4AddressesPerENI: 30) == 203)  // m4.4xlarge in the original
        #expect(InstanceTypeLimits.podAddressLimit(maxENIs: 1, ipv4AddressesPerENI: 10) == 0)
        #expect(InstanceTypeLimits.podAddressLimit(maxENIs: 0, ipv4AddressesPerENI: 0) == 0)
        #expect(InstanceTypeLimits.podAddressLimit(maxENIs: 3, ipv4AddressesPerENI: 10, prefixDelegation: true) == 288)
    }
}
