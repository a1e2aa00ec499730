import Foundation
@testable import HostNetwork
import KernelFakes
import Netlink
import TestSupport
import Testing
import VPCNetCore
import VPCNetSettings

/// The reconcile decisions against ``FakeKernel``: no root needed.
@Suite struct HostDatapathTests {
    static let eni2MAC = SampleNode.eni2MAC
    static func kernel(withENI2: Bool = false) -> FakeKernel { SampleNode.kernel(withENI2: withENI2) }

    static func stateFile() -> HostStateFile {
        HostStateFile(path: Scratch.path("host") + ".json")
    }

    @Test func aSecondPassWritesNothing() async throws {
        let kernel = Self.kernel(withENI2: true)
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        let first = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(first.isConfigured && first.primaryInterface == "ens5", "\(first.failures)")
        let host = kernel.snapshot
        #expect(host.links.first { $0.name == "ens6" }.map { $0.mtu == 9001 && $0.isUp } == true)
        #expect(host.addresses[3] == [InterfaceAddress(try IPv4Address(parsing: "10.0.0.11"), prefixLength: 32)])
        #expect(host.routes.count == 4 && host.rules.count == 7)
        #expect(host.sysctls == ["net/ipv4/ip_forward": "1", "net/ipv4/conf/ens5/rp_filter": "2",
                                 "net/ipv4/conf/ens6/rp_filter": "2", "net/ipv4/conf/ens7/rp_filter": "2"])
        #expect(host.iptables["nat"]?["VPCNET-SNAT"]?.isEmpty == false)

        let writes = kernel.writes
        let second = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(second.changes.isEmpty && second.isConfigured, "\(second.changes)")
        #expect(kernel.writes == writes, "a pass over a converged host writes nothing")
    }

    @Test func whatIsRemovedByHandComesBack() async throws {
        let kernel = Self.kernel(withENI2: true)
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        _ = try await datapath.reconcile(record: try DatapathPlanTests.record())
        let converged = kernel.snapshot
        kernel.mutate { host in
            host.routes.remove(host.routes.first { $0.table == 7302 }!)
            host.rules.remove(host.rules.first { $0.priority == 7200 }!)
            host.iptables["nat"]?["VPCNET-SNAT"]?.removeFirst()
            host.sysctls["net/ipv4/ip_forward"] = "0"
            host.links[2].mtu = 1500
            host.addresses[3] = nil
        }
        let repair = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(repair.changes.count == 6 && repair.isConfigured, "\(repair.changes)")
        #expect(kernel.snapshot == converged)
    }

    @Test func aLateENIIsConfiguredWhenItAppears() async throws {
        let kernel = Self.kernel()
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        let early = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(early.missingENIs.map(\.macAddress) == [Self.eni2MAC] && !early.isConfigured)
        #expect(!kernel.snapshot.routes.contains { $0.table == 7302 } && !kernel.snapshot.rules.contains { $0.table == 7302 },
                "nothing points at the table of an ENI that is not there")
        kernel.mutate { host in
            host.links.append(Link(index: 4, name: "ens7", macAddress: Self.eni2MAC, mtu: 1500, isUp: false))
            host.sysctls["net/ipv4/conf/ens7/rp_filter"] = "1"
        }
        let late = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(late.isConfigured && late.interfaceNames[Self.eni2MAC] == "ens7")
        #expect(kernel.snapshot.routes.count { $0.table == 7302 } == 2 && kernel.snapshot.rules.count { $0.table == 7302 } == 1)
    }

    @Test func anENIRemovedFromTheRecordIsPutBack() async throws {
        let kernel = Self.kernel(withENI2: true)
        let original = kernel.snapshot
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        var record = try DatapathPlanTests.record()
        _ = try await datapath.reconcile(record: record)
        record.enis.removeAll { $0.macAddress == Self.eni2MAC }
        let report = try await datapath.reconcile(record: record)
        #expect(report.isConfigured)
        let host = kernel.snapshot
        #expect(host.links.first { $0.name == "ens7" } == original.links.first { $0.name == "ens7" }, "MTU and state restored")
        #expect(host.addresses[4] == nil && !host.routes.contains { $0.table == 7302 } && !host.rules.contains { $0.table == 7302 })
        #expect(host.sysctls["net/ipv4/conf/ens7/rp_filter"] == "1")
        #expect(await datapath.state.links[Self.eni2MAC] == nil && !host.rules.contains { $0.source?.description == "10.0.2.1/32" })
    }

    @Test func uninstallLeavesTheHostAsItWasEvenAfterARestart() async throws {
        let kernel = Self.kernel(withENI2: true)
        kernel.mutate { $0.iptables["nat"]?["POSTROUTING"] = ["-A POSTROUTING -s 192.168.0.0/16 -j MASQUERADE"] }
        let original = kernel.snapshot
        let stateFile = Self.stateFile()
        _ = try await HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: stateFile)
            .reconcile(record: try DatapathPlanTests.record())
        #expect(kernel.snapshot != original)
        // A new process: the originals come from the state file.
        let done = try await HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: stateFile).uninstall()
        #expect(!done.isEmpty)
        #expect(kernel.snapshot == original)
        #expect(try AtomicFile.read(stateFile.path) == nil, "the state file goes too")
    }

    @Test func aFailedWriteIsReportedAndRetriedOnTheNextPass() async throws {
        let kernel = Self.kernel(withENI2: true)
        kernel.failNext("addRoute")
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        let failed = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(failed.failures.count == 1 && !failed.isConfigured && failed.changes.count > 10, "the other changes still happen")
        let retried = try await datapath.reconcile(record: try DatapathPlanTests.record())
        #expect(retried.isConfigured && retried.changes.count == 1)
    }

    @Test func anUnreadableStateFileIsAClearErrorAndIsKept() throws {
        let stateFile = Self.stateFile()
        try AtomicFile.write("{\"version\": 7}", to: stateFile.path)
        #expect {
            try HostDatapath(kernel: Self.kernel(), configuration: DatapathConfiguration(), stateFile: stateFile)
        } throws: { error in
            "\(error)".contains("cannot be read") && "\(error)".contains("unsupported host state version 7")
        }
        #expect(try AtomicFile.read(stateFile.path).map { String(decoding: $0, as: UTF8.self) } == "{\"version\": 7}")
    }

    @Test func thePrimaryInterfaceIsFoundByMACThenByDefaultRoute() async throws {
        let kernel = Self.kernel(withENI2: true)
        var record = try DatapathPlanTests.record()
        record.enis[0].macAddress = MACAddress("02:00:00:00:00:99")!
        let datapath = try HostDatapath(kernel: kernel, configuration: DatapathConfiguration(), stateFile: Self.stateFile())
        await #expect(throws: HostDatapathError.self) { try await datapath.reconcile(record: record) }
        kernel.mutate { $0.routes.insert(Route(table: 254, destination: try! IPv4CIDR(parsing: "0.0.0.0/0"), gateway: try! IPv4Address(parsing: "10.0.0.1"), interfaceIndex: 2)) }
        #expect(try await datapath.reconcile(record: record).primaryInterface == "ens5")
    }

    @Test func theIPTablesBackendFollowsTheHost() {
        let kubeletOnLegacy = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n"
        #expect(IPTablesBackend.choose(saves: [.nft: "*nat\n-A POSTROUTING -j X\n", .legacy: kubeletOnLegacy]) == .legacy)
        #expect(IPTablesBackend.choose(saves: [.nft: "*nat\n", .legacy: "*nat\n-A POSTROUTING -j X\n-A POSTROUTING -j Y\n"]) == .legacy)
        #expect(IPTablesBackend.choose(saves: [.nft: "", .legacy: ""]) == .nft, "a fresh host: nf_tables")
        #expect(IPTablesBackend.choose(saves: [.nft: "*nat\n-A POSTROUTING -j X\n"]) == .nft)
        #expect(IPTablesBackend.choose(saves: [.legacy: ""]) == .legacy, "the only backend installed")
    }
}
