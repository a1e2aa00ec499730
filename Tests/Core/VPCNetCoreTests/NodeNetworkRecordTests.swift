import PropertyBased
import Testing
import VPCNetCore

@Suite struct NodeNetworkRecordTests {
    static func ip(_ s: String) -> IPv4Address { IPv4Address(s)! }

    /// An m5.large as the controller records it: the primary ENI and two pod ENIs of 9 addresses.
    static let sample: NodeNetworkRecord = {
        let subnet = try! IPv4CIDR(parsing: "10.0.0.0/20")
        func eni(_ index: Int, _ id: String, _ mac: String, _ primary: Int, _ secondaries: [Int]) -> NodeNetworkRecord.ENI {
            .init(id: NetworkInterfaceID(rawValue: id)!, macAddress: MACAddress(mac)!, deviceIndex: index,
                  subnetID: SubnetID(rawValue: "subnet-0123456789abcdef0")!, subnetCIDR: subnet, gateway: subnet.awsGateway,
                  securityGroupIDs: [SecurityGroupID(rawValue: "sg-0123456789abcdef0")!],
                  primaryIP: subnet.network.advanced(by: Int64(primary))!,
                  secondaryIPs: secondaries.map { subnet.network.advanced(by: Int64($0))! })
        }
        return NodeNetworkRecord(
            instanceID: InstanceID(rawValue: "i-0123456789abcdef0")!, instanceType: "m5.large", availabilityZone: "us-east-1a",
            vpcID: VPCID(rawValue: "vpc-0123456789abcdef0")!, vpcCIDRs: [try! IPv4CIDR(parsing: "10.0.0.0/16")],
            enis: [
                eni(2, "eni-00000000000000002", "0a:00:00:00:00:02", 30, Array(31...39)),
                eni(0, "eni-00000000000000000", "0a:00:00:00:00:00", 10, []),
                eni(1, "eni-00000000000000001", "0A:00:00:00:00:01", 20, Array(21...29)),
            ])
    }()

    @Test func roundTripsThroughJSON() throws {
        let json = Self.sample.jsonString()
        let decoded = try NodeNetworkRecord(json: json)
        #expect(decoded == Self.sample)
        #expect(decoded.jsonString() == json, "encoding is deterministic")
        #expect(decoded.enis.map(\.deviceIndex) == [0, 1, 2])
        #expect(decoded.primaryENI?.primaryIP == Self.ip("10.0.0.10"))
        #expect(decoded.podENIs.count == 2)
        #expect(decoded.podAddresses.count == 18)
        #expect(json.contains(#""mac":"0a:00:00:00:00:01""#), "MACs are normalised to lowercase")
        #expect(json.hasPrefix(#"{"availabilityZone":"us-east-1a","enis":[{"deviceIndex":0"#))
    }

    /// Applies `edit` to the sample's JSON object and expects decoding to fail with `expected`.
    func expectFailure(_ expected: NodeNetworkRecordError, sourceLocation: SourceLocation = #_sourceLocation,
                       _ edit: (inout [String: Any]) -> Void) throws {
        var object = try JSONObject.parse(Self.sample.jsonString())
        edit(&object)
        let json = try JSONObject.serialize(object)
        #expect(throws: expected, sourceLocation: sourceLocation) { try NodeNetworkRecord(json: json) }
    }

    @Test func unknownAndMissingVersionsAreClearErrors() throws {
        try expectFailure(.unsupportedVersion(4, supported: 1...3)) { $0["version"] = 4 }
        try expectFailure(.unsupportedVersion(0, supported: 1...3)) { $0["version"] = 0 }
        try expectFailure(.missingVersion) { $0["version"] = nil }
        try expectFailure(.invalid(path: "version", reason: "expected Int")) { $0["version"] = "1" }
        #expect(NodeNetworkRecordError.unsupportedVersion(2, supported: 1...1).description.contains("upgrade vpcnet"))
    }

    /// The sample with its second pod ENI on 7 delegated /28 prefixes instead of single addresses.
    static var withPrefixes: NodeNetworkRecord {
        var record = sample
        let i = record.enis.firstIndex { $0.deviceIndex == 2 }!
        record.enis[i].secondaryIPs = []
        record.enis[i].ipv4Prefixes = (1...7).map { try! IPv4CIDR(parsing: "10.0.\($0).0/28") }
        return record
    }

    @Test func prefixesNeedVersionTwoAndARecordWithoutThemStaysVersionOne() throws {
        #expect(Self.sample.version == 1 && Self.sample.jsonString().contains(#""version":1"#))
        #expect(!Self.sample.jsonString().contains("ipv4Prefixes"), "a record without prefixes is byte-for-byte version 1")
        let record = Self.withPrefixes
        let json = record.jsonString()
        #expect(record.version == 2 && json.contains(#""version":2"#))
        #expect(json.contains(#""ipv4Prefixes":["10.0.1.0/28","#))
        let decoded = try NodeNetworkRecord(json: json)
        #expect(decoded == record)
        #expect(decoded.podAddresses.count == 9 + 7 * 16)
        #expect(decoded.podENIs[1].podAddresses.first == Self.ip("10.0.1.0") && decoded.podENIs[1].podAddresses.last == Self.ip("10.0.7.15"))
        // A version-1 record that carries prefixes is refused: an old reader would drop them unseen.
        var object = try JSONObject.parse(json)
        object["version"] = 1
        #expect(throws: NodeNetworkRecordError.invalid(path: "enis[2].ipv4Prefixes", reason: "prefixes need record version 2")) {
            try NodeNetworkRecord(json: try JSONObject.serialize(object))
        }
    }

    @Test func profilesNeedVersionThreeAndOnlyPodENIsHaveThem() throws {
        var record = Self.withPrefixes
        let i = record.enis.firstIndex { $0.deviceIndex == 1 }!
        record.enis[i].profile = "db"
        let json = record.jsonString()
        #expect(record.version == 3 && json.contains(#""version":3"#) && json.contains(#""profile":"db""#))
        let decoded = try NodeNetworkRecord(json: json)
        #expect(decoded == record && decoded.profiles == ["db"])
        #expect(decoded.podENIs(profile: "db").map(\.deviceIndex) == [1] && decoded.podENIs(profile: nil).map(\.deviceIndex) == [2])
        #expect(!Self.withPrefixes.jsonString().contains("profile"), "no profile: the record stays version 2")
        // An older version carrying a profile is refused: its reader would give the profile's addresses to any pod.
        var object = try JSONObject.parse(json)
        object["version"] = 2
        #expect(throws: NodeNetworkRecordError.invalid(path: "enis[1].profile", reason: "profiles need record version 3")) {
            try NodeNetworkRecord(json: try JSONObject.serialize(object))
        }
        var primary = Self.sample
        primary.enis[primary.enis.firstIndex { $0.deviceIndex == 0 }!].profile = "db"
        #expect(throws: NodeNetworkRecordError.self) { try primary.validate() }
        var badName = Self.sample
        badName.enis[i].profile = "DB_clients"
        #expect(throws: NodeNetworkRecordError.invalid(path: "enis[1].profile", reason: "\"DB_clients\" is not a NetworkProfile name (a DNS subdomain)")) {
            try badName.validate()
        }
        #expect(NodeNetworkRecord.isProfileName("db-clients.v2") && !NodeNetworkRecord.isProfileName("-db") && !NodeNetworkRecord.isProfileName(""))
    }

    @Test func prefixesAreCheckedLikeAddresses() throws {
        func refused(_ prefix: String, _ reason: String, at index: Int = 2) throws {
            var record = Self.withPrefixes
            let i = record.enis.firstIndex { $0.deviceIndex == index }!
            record.enis[i].ipv4Prefixes = [try IPv4CIDR(parsing: prefix)]
            #expect(throws: NodeNetworkRecordError.self) { try record.validate() }
            do { try record.validate() } catch { #expect(error.description.contains(reason), "\(prefix): \(error)") }
        }
        try refused("10.0.1.0/27", "is not a /28")
        try refused("10.0.0.16/28", "is also held by", at: 2)  // 10.0.0.21…29 are eni-1's
        try refused("10.0.0.0/28", "is not a host address")     // the subnet's network address
        try refused("10.1.0.0/28", "is not a host address")     // outside the subnet
        try refused("10.0.2.0/28", "lends no prefixes", at: 0)
    }

    @Test func fieldsReservedForIPv6AreIgnoredFromVersionTwoOn() throws {
        var object = try JSONObject.parse(Self.withPrefixes.jsonString())
        object["ipv6CIDRs"] = ["2600:1f18::/56"]
        #expect(try NodeNetworkRecord(json: try JSONObject.serialize(object)) == Self.withPrefixes)
        object["version"] = 1
        object["enis"] = (try JSONObject.parse(Self.sample.jsonString()))["enis"]
        #expect(throws: NodeNetworkRecordError.self, "version 1 knows no reserved fields") { try NodeNetworkRecord(json: try JSONObject.serialize(object)) }
    }

    @Test func malformedJSONIsAnErrorNotACrash() {
        for text in ["", "{", "not json", #"{"version":1"#, "\u{0}", String(repeating: "[", count: 10000)] {
            #expect(throws: NodeNetworkRecordError.self) { try NodeNetworkRecord(json: text) }
        }
        #expect(throws: NodeNetworkRecordError.self) { try NodeNetworkRecord(json: "[]") }
        #expect(throws: NodeNetworkRecordError.self) { try NodeNetworkRecord(json: "null") }
    }

    @Test func fieldErrorsNameTheirPath() throws {
        try expectFailure(.invalid(path: "instanceID", reason: "required field is missing")) { $0["instanceID"] = nil }
        try expectFailure(.invalid(path: "surprise", reason: "unknown field (known: version, instanceID, instanceType, availabilityZone, vpcID, vpcCIDRs, enis)")) {
            $0["surprise"] = true
        }
        try expectFailure(.invalid(path: "enis[1].secondaryIPs[3]", reason: "'10.0.0.300' is not an IPv4 address")) {
            var enis = $0["enis"] as! [[String: Any]]
            var ips = enis[1]["secondaryIPs"] as! [Any]
            ips[3] = "10.0.0.300"
            enis[1]["secondaryIPs"] = ips
            $0["enis"] = enis
        }
        try expectFailure(.invalid(path: "enis[0].mac", reason: "'zz:00:00:00:00:00' is not a MAC address like 0a:3e:1f:4e:c6:d2")) {
            var enis = $0["enis"] as! [[String: Any]]
            enis[0]["mac"] = "zz:00:00:00:00:00"
            $0["enis"] = enis
        }
        try expectFailure(.invalid(path: "enis[2].id", reason: EC2IDError(input: "eni-xyz", prefix: "eni").description)) {
            var enis = $0["enis"] as! [[String: Any]]
            enis[2]["id"] = "eni-xyz"
            $0["enis"] = enis
        }
        try expectFailure(.invalid(path: "vpcCIDRs[0]", reason: "'10.0.0.1/16' is not an IPv4 CIDR like 10.0.0.0/16: host bits are set; the network is 10.0.0.0/16")) {
            $0["vpcCIDRs"] = ["10.0.0.1/16"]
        }
    }

    @Test func invariantsAreEnforced() throws {
        func expectInvalid(_ path: String, _ edit: (inout NodeNetworkRecord) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
            var record = Self.sample
            edit(&record)
            do {
                try record.validate()
                Issue.record("accepted an invalid record", sourceLocation: sourceLocation)
            } catch {
                guard case .invalid(let got, _) = error else { Issue.record("\(error)", sourceLocation: sourceLocation); return }
                #expect(got == path, sourceLocation: sourceLocation)
            }
            // The same record must not get past the decoder either.
            #expect(throws: NodeNetworkRecordError.self, sourceLocation: sourceLocation) { try NodeNetworkRecord(json: record.jsonString()) }
        }
        expectInvalid("enis[2].secondaryIPs[0]") { $0.enis[2].secondaryIPs[0] = Self.ip("10.0.0.21") }  // held by ENI 1
        expectInvalid("enis[1].secondaryIPs[0]") { $0.enis[1].secondaryIPs[0] = Self.ip("10.1.0.30") }  // outside subnet
        expectInvalid("enis[1].secondaryIPs[0]") { $0.enis[1].secondaryIPs[0] = Self.ip("10.0.0.1") }   // the gateway
        expectInvalid("enis[1].primaryIP") { $0.enis[1].primaryIP = Self.ip("10.0.15.255") }          // broadcast
        expectInvalid("enis[1].secondaryIPs[1]") { $0.enis[1].secondaryIPs[1] = $0.enis[1].secondaryIPs[0] }
        expectInvalid("enis[1].gateway") { $0.enis[1].gateway = Self.ip("10.0.0.0") }
        expectInvalid("enis[1].subnetCIDR") { $0.enis[1].subnetCIDR = try! IPv4CIDR(parsing: "10.0.0.0/8") }
        expectInvalid("enis[2].deviceIndex") { $0.enis[2].deviceIndex = 1 }
        expectInvalid("enis[1].deviceIndex") { $0.enis[1].deviceIndex = -1 }
        expectInvalid("enis[2].mac") { $0.enis[2].macAddress = $0.enis[1].macAddress }
        expectInvalid("enis[1].id") { $0.enis[1].id = $0.enis[0].id }
        expectInvalid("enis[1].securityGroups") { $0.enis[1].securityGroupIDs = [] }
        expectInvalid("enis") { $0.enis.removeFirst() }
        expectInvalid("vpcCIDRs") { $0.vpcCIDRs = [] }
        expectInvalid("instanceType") { $0.instanceType = "" }
    }

    @Test func randomValidRecordsRoundTrip() async {
        let gen = zip(Gen<Int>.value(in: 1...14), Gen<Int>.value(in: 0...49), Gen<Int>.value(in: 18...26), Gen<UInt32>.value())
        await propertyCheck(count: 200, input: gen) { podENIs, perENI, prefix, seed in
            let subnet = IPv4CIDR(containing: IPv4Address(rawValue: 0x0A00_0000 | (seed & 0x00FF_FFFF)), prefixLength: prefix)
            var pool = Array(subnet.awsAssignableAddresses.prefix((podENIs + 1) * (perENI + 1)))
            guard pool.count == (podENIs + 1) * (perENI + 1) else { return }  // subnet too small for this shape
            let enis = (0...podENIs).map { index -> NodeNetworkRecord.ENI in
                let primary = pool.removeFirst()
                let secondaries = index == 0 ? [] : Array(pool.prefix(perENI))
                if index != 0 { pool.removeFirst(perENI) }
                let hex = String(index, radix: 16)
                return .init(id: NetworkInterfaceID(rawValue: "eni-" + String(repeating: "0", count: 17 - hex.count) + hex)!,
                             macAddress: MACAddress(bytes: [2, 0, 0, 0, 0, UInt8(index)])!, deviceIndex: index,
                             subnetID: SubnetID(rawValue: "subnet-12345678")!, subnetCIDR: subnet, gateway: subnet.awsGateway,
                             securityGroupIDs: [SecurityGroupID(rawValue: "sg-12345678")!], primaryIP: primary, secondaryIPs: secondaries)
            }
            let record = NodeNetworkRecord(instanceID: InstanceID(rawValue: "i-12345678")!, instanceType: "c5.18xlarge",
                                           availabilityZone: "eu-west-1b", vpcID: VPCID(rawValue: "vpc-12345678")!,
                                           vpcCIDRs: [IPv4CIDR(containing: subnet.network, prefixLength: 8)], enis: enis.shuffled())
            let decoded = try NodeNetworkRecord(json: record.jsonString())
            #expect(decoded == record)
            #expect(decoded.podAddresses.count == podENIs * perENI)
        }
    }
}
