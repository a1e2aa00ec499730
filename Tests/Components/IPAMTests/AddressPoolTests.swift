import Foundation
@testable import IPAM
import PropertyBased
import Synchronization
import Testing
import TestSupport
import VPCNetContracts
import VPCNetCore

@Suite struct AddressPoolTests {
    static func key(_ container: String, network: String = "vpcnet") -> AttachmentKey {
        AttachmentKey(network: network, containerID: container, interface: "eth0")
    }

    static func pool(cooldown: Int64 = 1000) throws -> AddressPool {
        var pool = AddressPool(cooldownMilliseconds: cooldown)
        pool.configure(record: try SampleNode.record())
        return pool
    }

    @Test func everyAddressOfAPrefixIsAPodAddressOfItsENI() throws {
        var pool = AddressPool(cooldownMilliseconds: 1000)
        let record = try SampleNode.recordWithPrefix()
        pool.configure(record: record)
        var given: Set<IPv4Address> = []
        for n in 0..<19 { given.insert(try pool.allocate(Self.key("c\(n)"), pod: PodReference(), now: 0).allocation.address) }
        #expect(given.count == 19 && Set(record.podAddresses) == given, "3 single addresses and the 16 of 10.0.3.16/28")
        let prefixAddress = try IPv4Address(parsing: "10.0.3.16")
        #expect(pool.source(of: prefixAddress)?.eniID.description == "eni-00000000000000002")
        #expect(pool.source(of: prefixAddress)?.gateway == (try IPv4Address(parsing: "10.0.0.12")), "the ENI's primary, as for its single addresses")
        #expect(throws: PoolError.self) { try pool.allocate(Self.key("one-too-many"), pod: PodReference(), now: 0) }
    }

    @Test func aProfilesAddressesGoOnlyToItsPodsAndAreCountedApart() throws {
        var record = try SampleNode.record()
        let second = record.enis.firstIndex { $0.deviceIndex == 2 }!
        record.enis[second].profile = "db"
        var pool = AddressPool(cooldownMilliseconds: 1000)
        pool.configure(record: record)
        let dbAddresses = Set(record.podENIs(profile: "db").flatMap(\.podAddresses))
        let own = Set(record.podENIs(profile: nil).flatMap(\.podAddresses))
        #expect(pool.profiles == ["db"] && pool.total(profile: "db") == dbAddresses.count && pool.total() == own.count)
        let db = try pool.allocate(Self.key("db-0"), pod: PodReference(namespace: "ns", name: "db-0"), profile: "db", now: 0)
        #expect(dbAddresses.contains(db.allocation.address) && db.source.profile == "db")
        #expect(pool.freeCount(now: 0, profile: "db") == dbAddresses.count - 1 && pool.freeCount(now: 0) == own.count, "each pool counts its own")
        for n in 0..<own.count {
            #expect(own.contains(try pool.allocate(Self.key("web-\(n)"), pod: PodReference(), now: 0).allocation.address))
        }
        #expect(throws: PoolError.exhausted(total: own.count, coolingDown: 0), "pods without a profile never take the profile's addresses") {
            try pool.allocate(Self.key("web-extra"), pod: PodReference(), now: 0)
        }
        for n in 1..<dbAddresses.count { _ = try pool.allocate(Self.key("db-\(n)"), pod: PodReference(), profile: "db", now: 0) }
        #expect(throws: PoolError.profileExhausted("db", total: dbAddresses.count, coolingDown: 0)) {
            try pool.allocate(Self.key("db-extra"), pod: PodReference(), profile: "db", now: 0)
        }
        #expect(throws: PoolError.profileNotOnNode("cache", carried: ["db"])) {
            try pool.allocate(Self.key("cache-0"), pod: PodReference(), profile: "cache", now: 0)
        }
        #expect(PoolError.profileNotOnNode("cache", carried: []).description == "this node carries no ENI of network profile \"cache\" (it carries no profile)")
        #expect(pool.allocatedCount == own.count + dbAddresses.count, "nothing allocated by the refusals")
    }

    @Test func addIsIdempotentAndAddressesComeWithTheirENI() throws {
        var pool = try Self.pool()
        let (first, allocatedFrom, changed) = try pool.allocate(Self.key("a"), pod: PodReference(namespace: "ns", name: "p", uid: "u"), now: 0)
        #expect(changed)
        let (again, _, changedAgain) = try pool.allocate(Self.key("a"), pod: PodReference(), now: 5)
        #expect(again == first && !changedAgain, "the same attachment gets the same address, and nothing changes")
        let source = try #require(pool.source(of: first.address))
        #expect(allocatedFrom == source, "the allocation comes with its source")
        #expect(source.prefixLength == 20)
        #expect(source.gateway == (first.address.description.hasPrefix("10.0.1.") ? try IPv4Address(parsing: "10.0.0.11") : try IPv4Address(parsing: "10.0.0.12")))
        #expect(try pool.allocate(Self.key("a", network: "other"), pod: PodReference(), now: 0).allocation.address != first.address,
                "another network's attachment is another key")
    }

    @Test func releasedAddressesCoolDownAndTheLongestReleasedGoesFirst() throws {
        var pool = try Self.pool(cooldown: 1000)
        let a = try pool.allocate(Self.key("a"), pod: PodReference(), now: 0).allocation.address
        let b = try pool.allocate(Self.key("b"), pod: PodReference(), now: 0).allocation.address
        let c = try pool.allocate(Self.key("c"), pod: PodReference(), now: 0).allocation.address
        #expect(Set([a, b, c]).count == 3)
        #expect(throws: PoolError.exhausted(total: 3, coolingDown: 0)) { try pool.allocate(Self.key("d"), pod: PodReference(), now: 0) }
        #expect(pool.release(Self.key("b"), now: 100)?.address == b)
        #expect(pool.release(Self.key("a"), now: 200)?.address == a)
        #expect(pool.release(Self.key("nobody"), now: 200) == nil)
        #expect(pool.freeCount(now: 500) == 0 && pool.coolingDown(now: 500) == 2 && pool.nextFreeAt(now: 500) == 1100)
        #expect(throws: PoolError.exhausted(total: 3, coolingDown: 2)) { try pool.allocate(Self.key("d"), pod: PodReference(), now: 1099) }
        #expect(try pool.allocate(Self.key("d"), pod: PodReference(), now: 1100).allocation.address == b, "only b has cooled down")
        #expect(try pool.allocate(Self.key("e"), pod: PodReference(), now: 5000).allocation.address == a)
    }

    @Test func addressStatesShowEachAddressWithItsENIAndState() throws {
        var pool = try Self.pool(cooldown: 1000)
        let a = try pool.allocate(Self.key("a"), pod: PodReference(), now: 0).allocation.address
        let b = try pool.allocate(Self.key("b"), pod: PodReference(), now: 0).allocation.address
        _ = pool.release(Self.key("b"), now: 100)
        let states = pool.addressStates(now: 500)
        #expect(states.map(\.address) == states.map(\.address).sorted() && states.count == pool.total())
        #expect(states.first { $0.address == a } == AddressState(address: a, eniID: pool.source(of: a)!.eniID, state: .allocated,
                                                                  attachment: Self.key("a")))
        #expect(states.first { $0.address == b }?.state == .coolingDown && states.first { $0.address == b }?.freeAt == 1100)
        #expect(states.count { $0.state == .free } == pool.freeCount(now: 500))
        #expect(pool.addressStates(now: 1100).first { $0.address == b }?.state == .free, "free once cooled down")
        #expect(Set(states.map(\.eniID)).count == 2, "the sample node's addresses come from two ENIs")
    }

    @Test func neverUsedAddressesGoBeforeReleasedOnes() throws {
        var pool = try Self.pool(cooldown: 0)
        let a = try pool.allocate(Self.key("a"), pod: PodReference(), now: 0).allocation.address
        _ = pool.release(Self.key("a"), now: 1)
        let next = try pool.allocate(Self.key("b"), pod: PodReference(), now: 2).allocation.address
        #expect(next != a)
    }

    @Test func addressesThatLeaveTheRecordDropTheirAllocations() throws {
        var pool = try Self.pool()
        for name in ["a", "b", "c"] { _ = try pool.allocate(Self.key(name), pod: PodReference(), now: 0) }
        var record = try SampleNode.record()
        record.enis.removeAll { $0.deviceIndex == 2 }
        let dropped = pool.configure(record: record)
        #expect(dropped.map(\.address.description) == ["10.0.2.1"] && pool.total() == 2 && pool.allocatedCount == 2)
    }

    @Test func gcReleasesOnlyTheNetworksAttachmentsNotInTheValidList() throws {
        var pool = try Self.pool()
        for name in ["a", "b"] { _ = try pool.allocate(Self.key(name), pod: PodReference(), now: 0) }
        _ = try pool.allocate(Self.key("x", network: "other"), pod: PodReference(), now: 0)
        let released = pool.collect(network: "vpcnet", valid: [Self.key("a")], now: 10)
        #expect(released.map(\.key) == [Self.key("b")] && pool.allocatedCount == 2)
    }

    @Test func notConfiguredIsItsOwnError() {
        var pool = AddressPool(cooldownMilliseconds: 0)
        #expect(throws: PoolError.notConfigured) { try pool.allocate(Self.key("a"), pod: PodReference(), now: 0) }
    }

    /// An attachment holding an address of an ENI that lends nothing now (its interface went
    /// missing) is not answered with an address it cannot use; its allocation stays.
    @Test func anAllocationOfAnUnusableENIIsNotHandedOut() throws {
        var pool = try Self.pool()
        let record = try SampleNode.record()
        let held = try pool.allocate(Self.key("a"), pod: PodReference(), now: 0)
        let otherENIs = Set(record.podENIs.map(\.id)).subtracting([held.source.eniID])
        pool.configure(record: record, usable: otherENIs)
        #expect(throws: PoolError.notConfigured) { try pool.allocate(Self.key("a"), pod: PodReference(), now: 1) }
        #expect(pool.allocation(for: Self.key("a")) == held.allocation)
    }

    /// Any sequence of ADD and DEL: no address is ever held twice, an attachment's address never
    /// changes while it holds one, and the counts add up.
    @Test func randomOperationsKeepTheInvariants() async throws {
        let record = try SampleNode.record()
        await propertyCheck(count: 300, input: Gen<Int>.int(in: 0...11).array(of: 1...60)) { operations in
            var pool = AddressPool(cooldownMilliseconds: 3)
            pool.configure(record: record)
            var held: [AttachmentKey: IPv4Address] = [:]
            for (time, operation) in operations.enumerated() {
                let key = Self.key("c\(operation % 6)")
                if operation < 6 {
                    if let result = try? pool.allocate(key, pod: PodReference(), now: Int64(time)) {
                        if let previous = held[key] { #expect(previous == result.allocation.address) }
                        held[key] = result.allocation.address
                    } else {
                        #expect(held[key] == nil && pool.freeCount(now: Int64(time)) == 0)
                    }
                } else {
                    #expect(pool.release(key, now: Int64(time))?.address == held.removeValue(forKey: key))
                }
                #expect(Set(pool.allocations.values.map(\.address)).count == pool.allocatedCount)
                #expect(pool.allocatedCount == held.count)
                #expect(pool.freeCount(now: Int64(time)) + pool.coolingDown(now: Int64(time)) + pool.allocatedCount == pool.total())
            }
        }
    }
}

@Suite struct AddressManagerTests {
    static func path() -> String { Scratch.path("ipam") + ".json" }

    @Test func stateSurvivesARestartAndDuplicatesAreDropped() async throws {
        let path = Self.path()
        let clock = { @Sendable in Int64(1_000_000) }
        let manager = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 500, now: clock)
        _ = try await manager.configure(record: try SampleNode.record())
        let (a, _) = try await manager.add(AddressPoolTests.key("a"), pod: PodReference(namespace: "ns", name: "a", uid: "1"))
        _ = try await manager.add(AddressPoolTests.key("b"), pod: PodReference())
        _ = try await manager.release(AddressPoolTests.key("b"))

        let restarted = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 500, now: clock)
        _ = try await restarted.configure(record: try SampleNode.record())
        #expect(await restarted.allocation(for: AddressPoolTests.key("a")) == a)
        #expect(await restarted.status == AddressManager.Status(configured: true, total: 3, allocated: 1, free: 1, coolingDown: 1,
                                                                 nextFreeAt: 1_000_500))

        // A state file holding one address twice: the older allocation wins.
        var text = String(decoding: try #require(try AtomicFile.read(path)), as: UTF8.self)
        let duplicate = "{\"address\":\"\(a.address)\",\"allocatedAt\":2000000,\"key\":{\"containerID\":\"z\",\"interface\":\"eth0\",\"network\":\"vpcnet\"},\"pod\":{\"name\":\"\",\"namespace\":\"\",\"uid\":\"\"}},"
        text = text.replacingOccurrences(of: "\"allocations\":[", with: "\"allocations\":[" + duplicate)
        try AtomicFile.write(text, to: path)
        let loaded = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 500, now: clock)
        #expect(loaded.duplicatesAtLoad.map(\.key.containerID) == ["z"])
        #expect(await loaded.allocation(for: AddressPoolTests.key("a")) == a)
    }

    @Test func aSaveKeepsTheReleasesStillCoolingAndDropsTheEndedOnes() async throws {
        let path = Self.path()
        let time = Mutex<Int64>(1_000_000)
        let clock = { @Sendable in time.withLock { $0 } }
        let manager = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 500, now: clock)
        _ = try await manager.configure(record: try SampleNode.record())
        let (old, _) = try await manager.add(AddressPoolTests.key("old"), pod: PodReference())
        _ = try await manager.release(AddressPoolTests.key("old"))
        time.withLock { $0 += 400 }
        let (recent, _) = try await manager.add(AddressPoolTests.key("recent"), pod: PodReference())
        _ = try await manager.release(AddressPoolTests.key("recent"))
        time.withLock { $0 += 200 }  // old's cooldown has ended, recent's has 300 ms to go
        _ = try await manager.add(AddressPoolTests.key("c"), pod: PodReference())

        let loaded = try PoolStore(path: path).load()
        #expect(loaded.releasedAt == [recent.address: 1_000_400], "\(old.address)'s ended cooldown is not persisted")
        let restarted = try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 500, now: clock)
        _ = try await restarted.configure(record: try SampleNode.record())
        #expect(await restarted.status.coolingDown == 1)
        #expect(await restarted.status.nextFreeAt == 1_000_900)
    }

    @Test func aLegacyStateFileIsAdoptedAndWinsOverTheCurrentOne() async throws {
        let current = Self.path(), legacy = Self.path()
        let clock = { @Sendable in Int64(1_000_000) }
        // An older daemon wrote the legacy file after this one last saved: the legacy state is the truth.
        let old = try AddressManager(store: PoolStore(path: legacy), cooldownMilliseconds: 0, now: clock)
        _ = try await old.configure(record: try SampleNode.record())
        let (a, _) = try await old.add(AddressPoolTests.key("a"), pod: PodReference())
        try AtomicFile.write("{\"version\":1,\"allocations\":[],\"releasedAt\":{}}", to: current)

        let store = PoolStore(path: current, legacyPath: legacy)
        #expect(store.currentPath == legacy)
        #expect(try store.load().allocations.map(\.key) == [AddressPoolTests.key("a")], "a pre-flight read sees the legacy state, moving nothing")
        #expect(FileManager.default.fileExists(atPath: legacy))

        let manager = try AddressManager(store: store, cooldownMilliseconds: 0, now: clock)
        #expect(!FileManager.default.fileExists(atPath: legacy) && store.currentPath == current)
        _ = try await manager.configure(record: try SampleNode.record())
        #expect(await manager.allocation(for: AddressPoolTests.key("a")) == a)
        _ = try await manager.add(AddressPoolTests.key("b"), pod: PodReference())
        let restarted = try AddressManager(store: store, cooldownMilliseconds: 0, now: clock)
        #expect(await restarted.allocations.map(\.key.containerID) == ["a", "b"], "saves go to the current file and are read back")
        #expect(try !store.adoptLegacyFile(), "nothing left to adopt")
    }

    @Test func aStateFileThatCannotBeReadIsKept() throws {
        let path = Self.path()
        try AtomicFile.write("not json", to: path)
        #expect { try AddressManager(store: PoolStore(path: path), cooldownMilliseconds: 0, now: { 0 }) } throws: {
            "\($0)".contains("cannot be read")
        }
        #expect(try AtomicFile.read(path) == Array("not json".utf8))
    }

    @Test func aFailedSaveChangesNothing() async throws {
        let directory = Scratch.path("ipam")
        try AtomicFile.makeDirectory(directory, mode: 0o700)
        let manager = try AddressManager(store: PoolStore(path: directory + "/state.json"), cooldownMilliseconds: 0, now: { 0 })
        _ = try await manager.configure(record: try SampleNode.record())
        try FileManager.default.removeItem(atPath: directory)
        await #expect(throws: AtomicFile.Failure.self) { try await manager.add(AddressPoolTests.key("a"), pod: PodReference()) }
        #expect(await manager.status.allocated == 0)
    }
}

@Suite struct LateENITests {
    @Test func anENIWithoutItsInterfaceKeepsItsAllocationsButLendsNothing() throws {
        var pool = AddressPool(cooldownMilliseconds: 1000)
        let record = try SampleNode.record()
        pool.configure(record: record)
        let late = try #require(record.podENIs.first { $0.deviceIndex == 2 })
        // Allocations made while every ENI was usable (before a restart, say): a, b on ENI 1, c on ENI 2.
        for name in ["a", "b", "c"] { _ = try pool.allocate(AddressPoolTests.key(name), pod: PodReference(), now: 0) }
        #expect(pool.allocation(for: AddressPoolTests.key("c")).map { late.secondaryIPs.contains($0.address) } == true)
        _ = pool.release(AddressPoolTests.key("b"), now: 10)
        let dropped = pool.configure(record: record, usable: Set(record.podENIs.map(\.id)).subtracting([late.id]))
        #expect(dropped.isEmpty, "nothing is dropped for an interface that is only late")
        #expect(pool.allocation(for: AddressPoolTests.key("c")) != nil)
        #expect(pool.total() == 2 && pool.freeCount(now: 5000) == 1)
        #expect(try pool.allocate(AddressPoolTests.key("d"), pod: PodReference(), now: 5000).allocation.address.description == "10.0.1.2")
        _ = pool.release(AddressPoolTests.key("c"), now: 5000)
        #expect(throws: PoolError.self, "the late ENI's address is not lent") {
            try pool.allocate(AddressPoolTests.key("e"), pod: PodReference(), now: 99_000)
        }
    }
}
