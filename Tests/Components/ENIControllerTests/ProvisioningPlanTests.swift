import AWSEC2
@testable import ENIController
import Testing
import VPCNetCore

@Suite struct ProvisioningPlanTests {
    static func attached(_ id: String, _ index: Int, status: AttachmentStatus = "attached", deleteOnTermination: Bool = true,
                         addresses: Int = 9, prefixes: Int = 0, instance: String = "i-1") -> OwnedENI {
        OwnedENI(id: id, status: "in-use", attachment: .init(id: "attach-\(id)", instanceID: instance, deviceIndex: index, status: status,
                                                            deleteOnTermination: deleteOnTermination), secondaryIPCount: addresses, prefixCount: prefixes)
    }

    static func spare(_ id: String, addresses: Int = 9) -> OwnedENI {
        OwnedENI(id: id, status: "available", attachment: nil, secondaryIPCount: addresses)
    }

    /// Every pod ENI full (9 slots each), as on a small node that needs all it can hold.
    static func full(_ enis: Int) -> PodSizing.Target {
        PodSizing.Target(slotsPerENI: Array(repeating: 9, count: enis), addressesPerSlot: 1, slotsPerENILimit: 9)
    }

    static func plan(_ owned: [OwnedENI], max: Int = 3, others: Set<Int> = [0], target: PodSizing.Target? = nil) -> ProvisioningPlan {
        ProvisioningPlan.make(instanceID: "i-1", maxENIs: max, target: target ?? full(max - 1), occupiedByOthers: others, owned: owned)
    }

    static func sized(_ slots: [Int]) -> PodSizing.Target { PodSizing.Target(slotsPerENI: slots, addressesPerSlot: 1, slotsPerENILimit: 9) }

    @Test func aNewNodeGetsAllItsENIsAtOnce() {
        #expect(Self.plan([]).actions == [.createAndAttach(deviceIndex: 1, .singles(9)), .createAndAttach(deviceIndex: 2, .singles(9))])
        #expect(Self.plan([], max: 8).actions.count == 7)
        #expect(Self.plan([], max: 1, target: Self.sized([])).isComplete, "a type with a single ENI has nothing to add")
    }

    @Test func aNodeSizedBelowItsTypeGetsOnlyWhatItNeeds() {
        #expect(Self.plan([], max: 8, target: Self.sized([9, 3])).actions
                == [.createAndAttach(deviceIndex: 1, .singles(9)), .createAndAttach(deviceIndex: 2, .singles(3))])
        #expect(Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2, addresses: 3)], max: 8, target: Self.sized([9, 3])).isComplete)
    }

    @Test func nothingIsTakenAwayAndAShortENIIsToppedUpBeforeAnotherIsCreated() {
        // Provisioned to the type's maximum by an older controller: kept as it is.
        let old = (1...7).map { Self.attached("eni-\($0)", $0) }
        #expect(Self.plan(old, max: 8, target: Self.sized([9, 3])).isComplete)
        // A node whose target grew (its max-pods label was raised): its last ENI is filled first.
        #expect(Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2, addresses: 3)], max: 8, target: Self.sized([9, 9, 2])).actions
                == [.assignAddresses(eniID: "eni-b", .singles(6)), .createAndAttach(deviceIndex: 3, .singles(2))])
        // A spare that carries more than its share counts with all of it.
        #expect(Self.plan([Self.spare("eni-s", addresses: 9)], max: 8, target: Self.sized([9, 3])).actions
                == [.attach(eniID: "eni-s", deviceIndex: 1), .createAndAttach(deviceIndex: 2, .singles(3))])
        #expect(Self.plan([Self.spare("eni-s", addresses: 9)], max: 8, target: Self.sized([5])).actions == [.attach(eniID: "eni-s", deviceIndex: 1)])
    }

    @Test func leftoversFromACrashAreAdoptedBeforeAnythingIsCreated() {
        let plan = Self.plan([Self.spare("eni-b"), Self.attached("eni-a", 2, deleteOnTermination: false)])
        #expect(plan.actions == [.setDeleteOnTermination(eniID: "eni-a", attachmentID: "attach-eni-a"),
                                 .attach(eniID: "eni-b", deviceIndex: 1)])
    }

    @Test func sparesBeyondTheFreeIndexesAreDeleted() {
        let plan = Self.plan([Self.attached("eni-a", 1), Self.spare("eni-b"), Self.spare("eni-c"), Self.spare("eni-d")])
        #expect(plan.actions == [.attach(eniID: "eni-b", deviceIndex: 2), .delete(eniID: "eni-c"), .delete(eniID: "eni-d")])
    }

    @Test func indexesUsedByOthersAreSkipped() {
        #expect(Self.plan([], others: [0, 1]).actions == [.createAndAttach(deviceIndex: 2, .singles(9))],
                "the type's limit, not the target, decides which indexes exist")
    }

    @Test func missingAddressesAreAssigned() {
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 4), Self.attached("eni-b", 2)]).actions == [.assignAddresses(eniID: "eni-a", .singles(5))])
    }

    @Test func transitionsAreWaitedFor() {
        let plan = Self.plan([Self.attached("eni-a", 1, status: "attaching"), Self.attached("eni-b", 2, status: "detaching")])
        #expect(plan.waitingFor == ["eni-b"] && !plan.isComplete)
        #expect(plan.actions.isEmpty, "the detaching ENI's index is not reused while it detaches")
    }

    @Test func aConvergedInstanceNeedsNothing() {
        let plan = Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2, status: "attaching")])
        #expect(plan.isComplete)
        #expect(Self.plan([Self.attached("eni-x", 1, instance: "i-other")]).actions
                == [.createAndAttach(deviceIndex: 1, .singles(9)), .createAndAttach(deviceIndex: 2, .singles(9))],
                "an ENI attached elsewhere is not ours to use")
    }

    /// An m5.large under the defaults: one pod ENI with 7 prefixes (9 slots per ENI).
    static let sevenPrefixes = PodSizing.Target(slotsPerENI: [7], addressesPerSlot: 16, slotsPerENILimit: 9)

    @Test func withPrefixesOneENICarriesTheNodeAndSingleAddressesAreTheFallback() {
        #expect(Self.plan([], target: Self.sevenPrefixes).actions == [.createAndAttach(deviceIndex: 1, .prefixes(7, orSingles: 9))])
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 0, prefixes: 7)], target: Self.sevenPrefixes).isComplete)
        // The subnet had no free /28: the first ENI got 9 single addresses, the rest goes to the next.
        #expect(Self.plan([Self.attached("eni-a", 1)], target: Self.sevenPrefixes).actions
                == [.createAndAttach(deviceIndex: 2, .prefixes(7, orSingles: 9))])
        #expect(Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2)], target: Self.sevenPrefixes).isComplete,
                "no device index left: the node takes what it got")
        #expect(Self.plan([Self.attached("eni-a", 1)], max: 2, target: Self.sevenPrefixes).isComplete, "the ENI cap holds in a fallback too")
    }

    @Test func aPrefixENIShortOfItsShareIsToppedUpWithPrefixes() {
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 0, prefixes: 3)], target: Self.sevenPrefixes).actions
                == [.assignAddresses(eniID: "eni-a", .prefixes(4, orSingles: 6))])
        // Single addresses from a fallback leave slots for prefixes once the subnet has /28s again.
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 4, prefixes: 0)], target: Self.sevenPrefixes).actions
                == [.assignAddresses(eniID: "eni-a", .prefixes(5, orSingles: 5)), .createAndAttach(deviceIndex: 2, .prefixes(2, orSingles: 9))],
                "4 + 5 × 16 = 84 of 112: the next ENI takes 2 prefixes")
    }

    @Test func aNodeProvisionedWithoutPrefixesKeepsItsAddressesWhenPrefixesAreTurnedOn() {
        #expect(Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2)], target: Self.sevenPrefixes).isComplete)
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 0, prefixes: 7)]).isComplete,
                "and the reverse: 112 addresses in prefixes already exceed an 18-address target")
    }
}
