@testable import AWSEC2
import Foundation
import Testing
import VPCNetCore

/// Our client against moto, an independent EC2 emulator, with signature verification on.
/// moto's known gaps (no limits, random addresses, `Connection: close`) are not relied on.
@Suite(.serialized) struct MotoIntegrationTests {
    func withMoto(verifySignatures: Bool = true, _ body: (MotoServer, MotoServer.Fixture, AWSHTTPClient) async throws -> Void) async throws {
        let moto = try MotoServer(verifySignatures: verifySignatures)
        defer { moto.stop() }
        let fixture = try await moto.setUp()
        let http = AWSHTTPClient()
        do {
            try await body(moto, fixture, http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    @Test func fullENILifecycle() async throws {
        try await withMoto { moto, f, http in
            let client = EC2Client.forTesting(endpoint: moto.url.absoluteString,
                                              credentials: AWSCredentials(accessKeyID: f.access_key, secretAccessKey: f.secret_key),
                                              httpClient: http)
            let instance = try #require(try await client.describeInstances(ids: [f.instance_id]).first)
            #expect(instance.instanceType == "m5.large" && instance.subnetID == f.subnet_id && instance.availabilityZone == f.az)
            #expect(instance.securityGroups.map(\.id) == [f.sg_id])
            #expect(instance.networkInterfaces.first?.attachment?.deviceIndex == 0)

            let subnet = try #require(try await client.describeSubnets(ids: [f.subnet_id]).first)
            #expect(subnet.cidrBlock == f.subnet_cidr && subnet.vpcID == f.vpc_id)
            #expect(try await client.describeSecurityGroups(ids: [f.sg_id]).map(\.id) == [f.sg_id])
            #expect(try await client.describeVPCs(ids: [f.vpc_id]).first?.cidrBlocks == [f.vpc_cidr])
            let types = try await client.describeInstanceTypes(["m5.large"])
            let limits = InstanceTypeLimits(try #require(types.first))
            #expect(limits.maxENIs == 3 && limits.ipv4AddressesPerENI == 10 && limits.hypervisor == .nitro)

            let tags = [Tag(key: WellKnown.ENITags.cluster, value: "test cluster/ü"), Tag(key: WellKnown.ENITags.nodeName, value: "node-1")]
            let eni = try await client.createNetworkInterface(.init(
                subnetID: f.subnet_id, securityGroupIDs: [f.sg_id], description: "vpcnet pod ENI for node node-1", tags: tags,
                secondaryPrivateIPAddressCount: 9))
            #expect(eni.secondaryIPAddresses.count == 9)
            #expect(eni.subnetID == f.subnet_id && eni.groups.map(\.id) == [f.sg_id])
            #expect(Set(eni.tags) == Set(tags))
            #expect(MACAddress(eni.macAddress) != nil)

            let attachment = try await client.attachNetworkInterface(id: eni.id, instanceID: f.instance_id, deviceIndex: 1)
            try await client.modifyNetworkInterfaceAttribute(id: eni.id, .deleteOnTermination(attachmentID: attachment, true))
            try await client.modifyNetworkInterfaceAttribute(id: eni.id, .sourceDestCheck(false))

            let assigned = try await client.assignPrivateIPAddresses(id: eni.id, .count(2))
            #expect(!assigned.addresses.isEmpty)
            try await client.unassignPrivateIPAddresses(id: eni.id, addresses: [eni.secondaryIPAddresses[0]])
            try await client.createTags(resourceIDs: [eni.id], tags: [Tag(key: WellKnown.ENITags.instanceID, value: f.instance_id)])

            let found = try await client.describeNetworkInterfaces(filters: [
                .tag(WellKnown.ENITags.cluster, "test cluster/ü"), Filter("attachment.instance-id", [f.instance_id]),
            ])
            let described = try #require(found.first { $0.id == eni.id })
            #expect(found.count == 1)
            #expect(described.attachment?.id == attachment && described.attachment?.deviceIndex == 1)
            #expect(described.status == "in-use")
            #expect(described.sourceDestCheck == false)
            #expect(!described.secondaryIPAddresses.contains(eni.secondaryIPAddresses[0]))
            #expect(described.tags[tag: WellKnown.ENITags.instanceID] == f.instance_id)

            try await client.detachNetworkInterface(attachmentID: attachment)
            #expect(try await client.describeNetworkInterfaces(ids: [eni.id]).first?.status == "available")
            try await client.deleteNetworkInterface(id: eni.id)
            do {
                _ = try await client.describeNetworkInterfaces(ids: [eni.id])
                Issue.record("deleted ENI still described")
            } catch let error as EC2Error {
                #expect(error.code == .networkInterfaceNotFound)
            }
            do {
                _ = try await client.createNetworkInterface(.init(subnetID: "subnet-0000000000000000f", securityGroupIDs: [f.sg_id]))
                Issue.record("created in a missing subnet")
            } catch let error as EC2Error {
                #expect(error.code == .subnetNotFound && !error.isRetryable)
            }
        }
    }

    @Test func wrongSecretIsATypedAuthError() async throws {
        try await withMoto { moto, f, http in
            let client = EC2Client.forTesting(endpoint: moto.url.absoluteString,
                                              credentials: AWSCredentials(accessKeyID: f.access_key, secretAccessKey: "wrong-secret"),
                                              httpClient: http)
            do {
                _ = try await client.describeSubnets()
                Issue.record("wrong secret accepted")
            } catch let error as EC2Error {
                #expect(error.code?.isAuthentication == true, "\(error)")
                #expect(!error.isRetryable)
            }
        }
    }

    /// STS on a moto without signature checks (see `MotoServer.init`): the token file is read,
    /// exchanged for temporary credentials, and those sign the EC2 calls that follow.
    @Test func webIdentityThroughSTS() async throws {
        try await withMoto(verifySignatures: false) { moto, f, http in
            let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-token-\(UUID().uuidString)")
            try "eyJhbGciOiJSUzI1NiJ9.e30.signature\n".write(to: tokenFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: tokenFile) }
            let environment = AWSEnvironment(variables: [
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.url.absoluteString, "AWS_ROLE_ARN": f.role_arn,
                "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile.path, "AWS_ROLE_SESSION_NAME": "vpcnet-test",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            ])
            let client = try await EC2Client.fromEnvironment(environment, httpClient: http, rateBudget: RateBudget())
            #expect(client.configuration.endpoint == moto.url)
            let credentials = try await client.credentials.credentials()
            #expect(credentials.sessionToken != nil && credentials.expiration != nil)
            #expect(credentials.accessKeyID != f.access_key)
            #expect(try await client.describeVPCs(ids: [f.vpc_id]).map(\.id) == [f.vpc_id])
        }
    }
}
