import AWSEC2
@testable import ENIController
import Testing

@Suite struct ProvisioningPlanTests {
    static func attached(_ id: String, _ index: Int, status: AttachmentStatus = "attached", deleteOnTermination: Bool = true,
                         addresses: Int = 9, instance: String = "i-1") -> OwnedENI {
        OwnedENI(id: id, status: "in-use", attachment: .init(id: "attach-\(id)", instanceID: instance, deviceIndex: index, status: status,
                                                            deleteOnTermination: deleteOnTermination), secondaryIPCount: addresses)
    }

    static func spare(_ id: String, addresses: Int = 9) -> OwnedENI {
        OwnedENI(id: id, status: "available", attachment: nil, secondaryIPCount: addresses)
    }

    static func plan(_ owned: [OwnedENI], max: Int = 3, others: Set<Int> = [0]) -> ProvisioningPlan {
        ProvisioningPlan.make(instanceID: "i-1", maxENIs: max, secondaryIPsPerENI: 9, occupiedByOthers: others, owned: owned)
    }

    @Test func aNewNodeGetsEveryDeviceIndexAtOnce() {
        #expect(Self.plan([]).actions == [.createAndAttach(deviceIndex: 1), .createAndAttach(deviceIndex: 2)])
        #expect(Self.plan([], max: 8).actions.count == 7)
        #expect(Self.plan([], max: 1).isComplete, "a type with a single ENI has nothing to add")
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
        #expect(Self.plan([], others: [0, 1]).actions == [.createAndAttach(deviceIndex: 2)])
    }

    @Test func missingAddressesAreAssigned() {
        #expect(Self.plan([Self.attached("eni-a", 1, addresses: 4), Self.attached("eni-b", 2)]).actions == [.assignAddresses(eniID: "eni-a", count: 5)])
    }

    @Test func transitionsAreWaitedFor() {
        let plan = Self.plan([Self.attached("eni-a", 1, status: "attaching"), Self.attached("eni-b", 2, status: "detaching")])
        #expect(plan.waitingFor == ["eni-b"] && !plan.isComplete)
        #expect(plan.actions.isEmpty, "the detaching ENI's index is not reused while it detaches")
    }

    @Test func aConvergedInstanceNeedsNothing() {
        let plan = Self.plan([Self.attached("eni-a", 1), Self.attached("eni-b", 2, status: "attaching")])
        #expect(plan.isComplete)
        #expect(Self.plan([Self.attached("eni-x", 1, instance: "i-other")]).actions == [.createAndAttach(deviceIndex: 1), .createAndAttach(deviceIndex: 2)],
                "an ENI attached elsewhere is not ours to use")
    }
}
