import AWSEC2
@testable import EC2Sim
import Foundation
import Synchronization
import Testing
import VPCNetCore

/// vpcnet's own EC2 client against the simulator over HTTP, signatures verified: the same
/// lifecycle as against moto, plus the limits moto does not model.
@Suite struct EC2SimClientTests {
    /// Serves `simulator` and hands out an HTTP client; both are shut down however `body` ends.
    func serving(_ simulator: EC2Simulator, _ body: (EC2SimServer, AWSHTTPClient) async throws -> Void) async throws {
        let server = try await EC2SimServer.start(simulator, host: "127.0.0.1", port: 0)
        let http = AWSHTTPClient()
        do {
            try await body(server, http)
        } catch {
            try? await http.shutdown()
            await server.stop()
            throw error
        }
        try await http.shutdown()
        await server.stop()
    }

    func withSimulator(_ configuration: EC2Simulator.Configuration = .init(), throttle: SimThrottle = SimThrottle(enabled: false),
                       _ body: (EC2Simulator, EC2Client) async throws -> Void) async throws {
        let simulator = EC2Simulator(configuration: configuration, throttle: throttle)
        try await serving(simulator) { server, http in
            let client = server.client(http: http, retry: RetryPolicy(baseBackoff: .milliseconds(20), maxBackoff: .milliseconds(200)))
            try await body(simulator, client)
        }
        #expect(simulator.invariantViolations() == [])
    }

    /// A VPC, a /24 subnet in us-east-1a, a group and one instance, through the client's raw `send`.
    func network(_ client: EC2Client, type: String = "m5.large") async throws -> (subnet: String, group: String, instance: String) {
        let network = try await client.createSimulatedNetwork(subnets: [("10.0.0.0/24", "us-east-1a")])
        let subnet = network.subnets[0].id
        return (subnet, network.groupID, try await client.runSimulatedInstance(type: type, subnetID: subnet, groupID: network.groupID))
    }

    @Test func lifecycleThroughOurClient() async throws {
        try await withSimulator { simulator, client in
            let (subnet, group, instanceID) = try await network(client)
            let instance = try #require(try await client.describeInstances(ids: [instanceID]).first)
            #expect(instance.networkInterfaces.count == 1 && instance.networkInterfaces[0].attachment?.deviceIndex == 0)
            #expect(instance.availabilityZone == "us-east-1a" && instance.securityGroups.map(\.id) == [group])

            let tags = [Tag(key: WellKnown.ENITags.cluster, value: "sim"), Tag(key: WellKnown.ENITags.nodeName, value: "node-1")]
            var enis: [NetworkInterface] = []
            for index in 1...2 {
                let eni = try await client.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group], description: "pod ENI",
                                                                        tags: tags, secondaryPrivateIPAddressCount: 9, clientToken: "tok-\(index)"))
                #expect(eni.secondaryIPAddresses.count == 9)
                let attachment = try await client.attachNetworkInterface(id: eni.id, instanceID: instanceID, deviceIndex: index)
                try await client.modifyNetworkInterfaceAttribute(id: eni.id, .deleteOnTermination(attachmentID: attachment, true))
                enis.append(eni)
            }
            // ClientToken makes a repeated create return the first ENI instead of a second one.
            let again = try await client.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group], tags: tags,
                                                                      secondaryPrivateIPAddressCount: 9, clientToken: "tok-1"))
            #expect(again.id == enis[0].id)

            let third = try await client.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group]))
            await #expect(throws: EC2Error.self) { try await client.attachNetworkInterface(id: third.id, instanceID: instanceID, deviceIndex: 3) }
            do {
                _ = try await client.attachNetworkInterface(id: third.id, instanceID: instanceID, deviceIndex: 3)
            } catch let error as EC2Error { #expect(error.code == .attachmentLimitExceeded) }
            do {
                _ = try await client.assignPrivateIPAddresses(id: enis[0].id, .count(1))
                Issue.record("assigned an 11th address on m5.large")
            } catch let error as EC2Error { #expect(error.code == .privateIpAddressLimitExceeded) }

            let found = try await client.describeNetworkInterfaces(filters: [.tag(WellKnown.ENITags.cluster, "sim"),
                                                                             Filter("attachment.instance-id", [instanceID])])
            #expect(Set(found.map(\.id)) == Set(enis.map(\.id)))
            #expect(found.allSatisfy { $0.attachment?.deleteOnTermination == true && $0.status == "in-use" })
            let allAddresses = found.flatMap { $0.privateIPAddresses.map(\.address) }
            #expect(Set(allAddresses).count == allAddresses.count, "no address is held twice")

            try await client.unassignPrivateIPAddresses(id: enis[1].id, addresses: Array(enis[1].secondaryIPAddresses.prefix(3)))
            let assigned = try await client.assignPrivateIPAddresses(id: enis[1].id, .count(3))
            #expect(assigned.addresses.count == 3)
            #expect(Set(assigned.addresses).isDisjoint(with: enis[0].secondaryIPAddresses))

            try await client.deleteNetworkInterface(id: third.id)
            _ = try await client.send(action: "TerminateInstances", [("InstanceId.1", instanceID)])
            #expect(try await client.describeNetworkInterfaces().isEmpty, "DeleteOnTermination removed every ENI")
            #expect(try await client.describeSubnets(ids: [subnet]).first?.availableIPAddressCount == 251)
            #expect(simulator.networkInterfaces.isEmpty)
        }
    }

    @Test func aLostCreateResponseDoesNotLeakAnENI() async throws {
        try await withSimulator { simulator, client in
            let (subnet, group, _) = try await network(client)
            // EC2 creates the ENI, the response is lost, the client retries with the same token.
            simulator.faults.inject(.dropResponse, action: "CreateNetworkInterface")
            let eni = try await client.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group],
                                                                    secondaryPrivateIPAddressCount: 3))
            let created = simulator.networkInterfaces.filter { $0.attachment == nil }
            #expect(created.map(\.id) == [eni.id], "one ENI, not one per attempt")
        }
    }

    @Test func attachmentsTakeTheirTimeAndHooksSeeThem() async throws {
        // Delays long enough that a loaded machine still sees the intermediate states.
        let configuration = EC2Simulator.Configuration(attachDelay: .milliseconds(1500), detachDelay: .milliseconds(1500))
        try await withSimulator(configuration) { simulator, client in
            let events = Mutex<[SimEvent]>([])
            let (subnet, group, instanceID) = try await network(client)
            // Hooked after the network exists: creating its group is an event of its own.
            simulator.addHook { event in events.withLock { $0.append(event) } }
            let eni = try await client.createNetworkInterface(.init(subnetID: subnet, securityGroupIDs: [group], secondaryPrivateIPAddressCount: 2))
            let attachment = try await client.attachNetworkInterface(id: eni.id, instanceID: instanceID, deviceIndex: 1)
            #expect(try await client.describeNetworkInterfaces(ids: [eni.id]).first?.attachment?.status == "attaching")
            #expect(events.withLock { $0 }.isEmpty)
            for _ in 0..<300 where events.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
            guard case .attached(let attached)? = events.withLock({ $0.first }) else { Issue.record("no attach event"); return }
            #expect(attached.id == eni.id && attached.attachment?.deviceIndex == 1 && attached.macAddress == eni.macAddress)
            #expect(try await client.describeNetworkInterfaces(ids: [eni.id]).first?.status == "in-use")

            await #expect(throws: EC2Error.self) { try await client.deleteNetworkInterface(id: eni.id) }
            try await client.detachNetworkInterface(attachmentID: attachment)
            #expect(try await client.describeNetworkInterfaces(ids: [eni.id]).first?.status == "detaching")
            for _ in 0..<300 where events.withLock({ $0.count < 2 }) { try await Task.sleep(for: .milliseconds(20)) }
            guard case .detached(let detached, let from)? = events.withLock({ $0.last }) else { Issue.record("no detach event"); return }
            #expect(detached.id == eni.id && from == instanceID)
            try await client.deleteNetworkInterface(id: eni.id)
        }
    }

    /// Margins are wide on purpose: tests run in parallel on two cores, so requests are delayed and
    /// bunched unpredictably. A bucket refilling at 1/s is overrun by 6 quick calls whatever the load;
    /// a client budget at half the server's rate stays under it despite jitter of a quarter second.
    @Test func throttlingIsRetriedByOurClientAndAvoidedByItsBudget() async throws {
        let simulator = EC2Simulator(throttle: SimThrottle(enabled: true, nonMutating: .init(capacity: 2, refillPerSecond: 1)))
        try await serving(simulator) { server, http in
            func client(budget: RateBudget, retry: RetryPolicy) -> EC2Client { server.client(http: http, retry: retry, rateBudget: budget) }
            // Without a matching budget, EC2 throttles and the client's retries get through.
            let eager = client(budget: RateBudget(),
                               retry: RetryPolicy(maxAttempts: 10, baseBackoff: .milliseconds(100), maxBackoff: .seconds(1)))
            for _ in 0..<6 { _ = try await eager.describeSubnets() }
            #expect(simulator.requestCount > 6, "some calls were throttled and retried")
            // A fresh, faster server bucket; the client's budget at half its rate: nothing is throttled.
            simulator.throttle.configure(action: "DescribeSubnets", bucket: .init(capacity: 2, refillPerSecond: 4))
            let before = simulator.requestCount
            let polite = client(budget: RateBudget(configuration: .init(nonMutating: .init(capacity: 1, refillPerSecond: 2))),
                                retry: RetryPolicy(maxAttempts: 1))
            for _ in 0..<8 { _ = try await polite.describeSubnets() }
            #expect(simulator.requestCount - before == 8, "no request was throttled")
        }
    }

    @Test func badSignaturesAndSkewAreRefused() async throws {
        try await serving(EC2Simulator()) { server, http in
            func client(secret: String, skew: TimeInterval = 0) -> EC2Client {
                server.client(http: http, secretAccessKey: secret, retry: RetryPolicy(maxAttempts: 1), clockSkew: skew)
            }
            do throws(EC2Error) {
                _ = try await client(secret: "wrong").describeVPCs()
                Issue.record("wrong secret accepted")
            } catch { #expect(error.code == .authFailure) }
            do throws(EC2Error) {
                _ = try await client(secret: EC2Simulator.testSecretAccessKey, skew: 1000).describeVPCs()
                Issue.record("a request from 16 minutes in the future was accepted")
            } catch { #expect(error.code == .requestExpired) }
            let accepted = try await client(secret: EC2Simulator.testSecretAccessKey, skew: 600).describeVPCs()
            #expect(accepted.isEmpty, "EC2 tolerates up to 15 minutes of skew")
        }
    }
}
