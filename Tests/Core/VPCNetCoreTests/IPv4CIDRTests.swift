import PropertyBased
import Testing
import VPCNetCore

@Suite struct IPv4CIDRTests {
    @Test func parsesAndDescribes() throws {
        let cidr = try IPv4CIDR(parsing: "10.0.16.0/20")
        #expect(cidr.network == IPv4Address(10, 0, 16, 0))
        #expect(cidr.prefixLength == 20)
        #expect(cidr.netmask == IPv4Address(255, 255, 240, 0))
        #expect(cidr.broadcast == IPv4Address(10, 0, 31, 255))
        #expect(cidr.size == 4096)
        #expect(cidr.description == "10.0.16.0/20")
        #expect(try IPv4CIDR(parsing: "0.0.0.0/0").size == 1 << 32)
        #expect(try IPv4CIDR(parsing: "1.2.3.4/32").broadcast == IPv4Address(1, 2, 3, 4))
    }

    @Test(arguments: [
        "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08", "10.0.0/8",
        "10.0.0.0/8/8", "10.0.0.1/24", "10.0.0.0/ 8", "/8", "10.0.0.0/x",
    ])
    func rejectsMalformedCIDRs(text: String) {
        #expect(throws: IPv4ParseError.self) { try IPv4CIDR(parsing: text) }
    }

    @Test func hostBitsErrorNamesTheNetwork() {
        do {
            _ = try IPv4CIDR(parsing: "10.0.0.5/24")
            Issue.record("accepted host bits")
        } catch {
            #expect(error.description.contains("the network is 10.0.0.0/24"))
        }
    }

    /// A random block: any address, any prefix.
    static let blocks = zip(Gen<UInt32>.value(), Gen<Int>.value(in: 0...32)).map { raw, prefix in
        IPv4CIDR(containing: IPv4Address(rawValue: raw), prefixLength: prefix)
    }

    @Test func blockMathIsConsistent() async {
        await propertyCheck(count: 2000, input: Gen<UInt32>.value(), Gen<Int>.value(in: 0...32)) { raw, prefix in
            let address = IPv4Address(rawValue: raw)
            let cidr = IPv4CIDR(containing: address, prefixLength: prefix)
            #expect(cidr.contains(address))
            #expect(cidr.network <= address && address <= cidr.broadcast)
            #expect(UInt64(cidr.broadcast.rawValue - cidr.network.rawValue) + 1 == cidr.size)
            #expect(cidr.network.rawValue & ~cidr.netmask.rawValue == 0)
            #expect((try? IPv4CIDR(parsing: cidr.description)) == cidr)
            if prefix > 0 {
                // The first address outside the block on either side is not contained.
                if let before = cidr.network.advanced(by: -1) { #expect(!cidr.contains(before)) }
                if let after = cidr.broadcast.advanced(by: 1) { #expect(!cidr.contains(after)) }
            }
        }
    }

    @Test func containmentAndOverlapAgree() async {
        await propertyCheck(count: 2000, input: Self.blocks, Self.blocks) { a, b in
            #expect(a.overlaps(b) == b.overlaps(a))
            #expect(a.overlaps(b) == (a.contains(b) || b.contains(a)))  // CIDR blocks nest or are disjoint
            if a.contains(b) { #expect(a.contains(b.network) && a.contains(b.broadcast) && a.prefixLength <= b.prefixLength) }
        }
    }

    @Test func iterationVisitsEveryAddressInOrder() async {
        await propertyCheck(count: 200, input: Gen<UInt32>.value(), Gen<Int>.value(in: 20...32)) { raw, prefix in
            let cidr = IPv4CIDR(containing: IPv4Address(rawValue: raw), prefixLength: prefix)
            let all = Array(cidr.addresses)
            #expect(UInt64(all.count) == cidr.size)
            #expect(all.first == cidr.network && all.last == cidr.broadcast)
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.rawValue + 1 == $1.rawValue })
        }
    }

    @Test func subnetsTileTheBlock() async throws {
        await propertyCheck(count: 200, input: Gen<UInt32>.value(), Gen<Int>.value(in: 16...28), Gen<Int>.value(in: 0...4)) { raw, prefix, extra in
            let cidr = IPv4CIDR(containing: IPv4Address(rawValue: raw), prefixLength: prefix)
            let sub = min(32, prefix + extra)
            let parts = cidr.subnets(prefixLength: sub)
            #expect(parts.count == 1 << (sub - prefix))
            #expect(parts.allSatisfy { $0.prefixLength == sub && cidr.contains($0) })
            #expect(zip(parts, parts.dropFirst()).allSatisfy { $0.broadcast.advanced(by: 1) == $1.network })
            #expect(parts.first?.network == cidr.network && parts.last?.broadcast == cidr.broadcast)
        }
        #expect(try IPv4CIDR(parsing: "10.0.0.0/24").subnets(prefixLength: 16).isEmpty)
    }

    @Test func awsSubnetConventions() async throws {
        let subnet = try IPv4CIDR(parsing: "10.0.1.0/24")
        #expect(subnet.awsGateway == IPv4Address(10, 0, 1, 1))
        #expect(subnet.awsReservedAddresses == ["10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.255"].map { IPv4Address($0)! })
        await propertyCheck(count: 100, input: Gen<UInt32>.value(), Gen<Int>.value(in: 16...28)) { raw, prefix in
            let cidr = IPv4CIDR(containing: IPv4Address(rawValue: raw), prefixLength: prefix)
            let assignable = Array(cidr.awsAssignableAddresses)
            #expect(UInt64(assignable.count) == cidr.size - 5)
            #expect(Set(assignable).isDisjoint(with: cidr.awsReservedAddresses))
            #expect(assignable.allSatisfy(cidr.contains))
        }
    }

    @Test func codableUsesTheTextForm() throws {
        let cidr = try IPv4CIDR(parsing: "172.16.0.0/12")
        let decoded = try JSONRoundTrip.roundTrip(cidr)
        #expect(decoded == cidr)
    }
}
