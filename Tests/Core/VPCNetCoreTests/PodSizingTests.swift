import Testing
@testable import VPCNetCore

@Suite struct PodSizingTests {
    static func limits(_ type: String) throws -> InstanceTypeLimits { try #require(InstanceTypeLimits.forType(type)) }

    @Test func anM5LargeWithPrefixesNeedsOnePodENIWithSevenPrefixes() throws {
        let target = try #require(PodSizing(prefixDelegation: .on).target(for: try Self.limits("m5.large")))
        #expect(target.slotsPerENI == [7], "110 pods less 2 on the host network: 108 addresses, 7 prefixes of 16")
        #expect(target.podAddresses == 112 && target.addressesPerSlot == 16)
        #expect(PodSizing(prefixDelegation: .on).podCapacity(for: try Self.limits("m5.large")) == 110)
    }

    @Test func withoutPrefixesASmallNodeTakesAllItCanAndALargeOneOnlyWhatItNeeds() throws {
        let sizing = PodSizing(prefixDelegation: .off)
        let small = try #require(sizing.target(for: try Self.limits("m5.large")))
        #expect(small.slotsPerENI == [9, 9] && small.podAddresses == 18)
        #expect(sizing.podCapacity(for: try Self.limits("m5.large")) == 20, "18 addresses + 2 host-network pods")
        let large = try #require(sizing.target(for: try Self.limits("c5.18xlarge")))
        #expect(large.slotsPerENI == [49, 49, 10], "108 addresses, not the type's 686")
        #expect(large.podAddresses == 108)
        #expect(sizing.podCapacity(for: try Self.limits("c5.18xlarge")) == 110)
    }

    @Test func maxPodsAndTheENICapBound() throws {
        let big = PodSizing(maxPods: 250, prefixDelegation: .on)
        #expect(try #require(big.target(for: try Self.limits("m5.large"))).slotsPerENI == [9, 7])
        #expect(big.podCapacity(for: try Self.limits("m5.large")) == 250)
        let capped = PodSizing(maxPods: 250, maxENIs: 2, prefixDelegation: .on)
        #expect(try #require(capped.target(for: try Self.limits("m5.large"))).slotsPerENI == [9], "MAX_ENI 2: the primary and one pod ENI")
        #expect(capped.podCapacity(for: try Self.limits("m5.large")) == 146)
        let noPodENI = PodSizing(maxENIs: 1)
        #expect(try #require(noPodENI.target(for: try Self.limits("m5.large"))).slotsPerENI.isEmpty)
        #expect(noPodENI.podCapacity(for: try Self.limits("m5.large")) == 2, "host-network pods only")
        #expect(PodSizing(maxENIs: 9, prefixDelegation: .off).target(for: try Self.limits("m5.large"))?.podENIs == 2, "a cap above the type's limit changes nothing")
    }

    @Test func xenTypesHaveNoPrefixes() throws {
        #expect(PodSizing(prefixDelegation: .on).target(for: try Self.limits("m4.large")) == nil)
        #expect(PodSizing(prefixDelegation: .on).podCapacity(for: try Self.limits("m4.large")) == nil)
        #expect(PodSizing().podCapacity(for: try Self.limits("m4.large")) == 11, "9 addresses + 2")
    }

    @Test func autoMeansPrefixesWhereTheTypeHasThem() throws {
        let auto = PodSizing(prefixDelegation: .auto)
        #expect(auto.target(for: try Self.limits("m5.large"))?.slotsPerENI == [7], "Nitro: prefixes")
        #expect(auto.target(for: try Self.limits("m4.large"))?.addressesPerSlot == 1, "Xen: single addresses")
        #expect(auto.target(for: try Self.limits("m5.metal"))?.addressesPerSlot == 16, "bare metal: prefixes")
        #expect(PodSizing(prefixDelegation: .off).target(for: try Self.limits("m5.large"))?.addressesPerSlot == 1)
        #expect(PodSizing(maxENIs: 2).maxENIs(try Self.limits("m5.large")) == 2)
        #expect(PodSizing(maxENIs: 9).maxENIs(try Self.limits("m5.large")) == 3)
    }

    @Test func everyTypeInTheTableGetsAtMostWhatItNeedsAndItCanHold() {
        for maxPods in [3, 30, 110, 250] { for prefixes in [false, true] {
            let sizing = PodSizing(maxPods: maxPods, prefixDelegation: prefixes ? .on : .off)
            for limits in InstanceTypeLimits.all.values {
                guard let target = sizing.target(for: limits) else {
                    #expect(prefixes && !limits.supportsPrefixDelegation)
                    continue
                }
                let most = limits.maxPodAddresses(prefixDelegation: prefixes) ?? 0
                #expect(target.podAddresses <= most)
                #expect(target.podAddresses >= min(most, sizing.neededAddresses), "\(limits.instanceType) is short of what it could hold")
                #expect(target.podAddresses - sizing.neededAddresses < target.addressesPerSlot, "\(limits.instanceType) takes a slot too many")
                #expect(target.slotsPerENI.allSatisfy { (1...target.slotsPerENILimit).contains($0) })
                #expect(target.slotsPerENI.dropLast().allSatisfy { $0 == target.slotsPerENILimit }, "only the last ENI is partly filled")
                #expect(sizing.podCapacity(podAddresses: target.podAddresses) <= maxPods)
            }
        } }
    }
}
