import Foundation
@testable import IPAM
import Testing
import TestSupport
import VPCNetContracts
import VPCNetCore

/// Host ports: `portmap` maps whatever it is given, so the pool refuses a `hostPort` another
/// attachment on the node holds, before any address is taken.
@Suite struct HostPortTests {
    static func key(_ container: String) -> AttachmentKey { AttachmentKey(network: "vpcnet", containerID: container, interface: "eth0") }

    @Test func aTakenHostPortIsRefusedWithItsHolderAndNothingIsAllocated() throws {
        var pool = AddressPool(cooldownMilliseconds: 1000)
        pool.configure(record: try SampleNode.record())
        let web = HostPort(port: 8080, protocol: "TCP")
        _ = try pool.allocate(Self.key("a"), pod: PodReference(namespace: "default", name: "hp-0", uid: "u"), hostPorts: [web], now: 0)
        #expect(pool.allocation(for: Self.key("a"))?.hostPorts == [HostPort(port: 8080, protocol: "tcp")])
        let before = pool
        #expect(throws: PoolError.hostPortTaken(web, by: pool.allocation(for: Self.key("a"))!)) {
            try pool.allocate(Self.key("b"), pod: PodReference(namespace: "default", name: "hp-1", uid: "v"), hostPorts: [web], now: 1)
        }
        #expect(pool == before, "a refused ADD changes nothing")
        let message = PoolError.hostPortTaken(web, by: pool.allocation(for: Self.key("a"))!).description
        #expect(message == "hostPort 8080/tcp is already taken on this node by pod default/hp-0")
        // Another protocol, another node address, or once the holder is gone: free.
        _ = try pool.allocate(Self.key("c"), pod: PodReference(), hostPorts: [HostPort(port: 8080, protocol: "udp")], now: 2)
        #expect(throws: PoolError.self) {
            try pool.allocate(Self.key("d"), pod: PodReference(), hostPorts: [HostPort(port: 8080, protocol: "tcp", hostIP: "10.0.0.10")], now: 3)
        }
        _ = pool.release(Self.key("a"), now: 4)
        _ = try pool.allocate(Self.key("d"), pod: PodReference(), hostPorts: [HostPort(port: 8080, protocol: "tcp", hostIP: "10.0.0.10")], now: 5)
        #expect(!HostPort(port: 80, protocol: "tcp", hostIP: "10.0.0.10").collides(with: HostPort(port: 80, protocol: "tcp", hostIP: "10.0.0.11")))
    }

    @Test func stateWrittenBeforeHostPortsReadsAndStateWithoutThemKeepsItsOldShape() throws {
        let old = #"{"key":{"network":"vpcnet","containerID":"a","interface":"eth0"},"pod":{"namespace":"","name":"","uid":""},"address":"10.0.1.5","allocatedAt":7}"#
        let decoded = try JSONDecoder().decode(Allocation.self, from: Data(old.utf8))
        #expect(decoded.hostPorts.isEmpty && decoded.address.description == "10.0.1.5")
        let encoded = String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self)
        #expect(!encoded.contains("hostPorts"))
        var withPorts = decoded
        withPorts.hostPorts = [HostPort(port: 53, protocol: "udp")]
        #expect(try JSONDecoder().decode(Allocation.self, from: JSONEncoder().encode(withPorts)) == withPorts)
    }
}
