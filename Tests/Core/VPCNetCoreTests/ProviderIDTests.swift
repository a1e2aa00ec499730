import Testing
import VPCNetCore

@Suite struct ProviderIDTests {
    @Test(arguments: [
        ("aws:///us-east-1a/i-0123456789abcdef0", "us-east-1a", "i-0123456789abcdef0"),
        ("aws://us-east-1a/i-0123456789abcdef0", "us-east-1a", "i-0123456789abcdef0"),
        ("aws:///us-gov-west-1b/i-12345678", "us-gov-west-1b", "i-12345678"),
        ("aws:///us-west-2-lax-1a/i-0123456789abcdef0", "us-west-2-lax-1a", "i-0123456789abcdef0"),
        ("aws:///i-0123456789abcdef0", nil, "i-0123456789abcdef0"),
        ("aws:////i-0123456789abcdef0", nil, "i-0123456789abcdef0"),
        ("i-0123456789abcdef0", nil, "i-0123456789abcdef0"),
    ] as [(String, String?, String)])
    func acceptsTheFormsKubernetesProduces(text: String, zone: String?, id: String) throws {
        let parsed = try AWSProviderID(parsing: text)
        #expect(parsed.availabilityZone == zone)
        #expect(parsed.instanceID.rawValue == id)
        #expect(try AWSProviderID(parsing: parsed.description) == parsed)
    }

    @Test func otherProvidersAreNotAWS() {
        for (text, scheme) in [("gce://project/us-central1-a/node-1", "gce"), ("kind://docker/kind/kind-worker", "kind"),
                               ("eks-hybrid:///us-west-2/my-cluster/node-1", "eks-hybrid"), ("azure:///subscriptions/x", "azure")] {
            #expect(throws: ProviderIDError.notAWS(scheme)) { try AWSProviderID(parsing: text) }
        }
        #expect(throws: ProviderIDError.empty) { try AWSProviderID(parsing: "") }
    }

    @Test(arguments: [
        "aws:///us-east-1a/fargate-ip-192-168-1-1.ec2.internal",
        "aws:///us-east-1a/0123abcd/fargate-ip-192-168-1-1",
        "aws:///us-east-1a/i-XYZ",
        "aws:///us-east-1a/i-0123456789ABCDEF0",
        "aws:///us-east-1a/i-0123456789abcdef",
        "aws:///us-east-1a/",
        "aws://",
        "aws:///us-east-1a/i-0123456789abcdef0?x=1",
        "aws:///US_EAST/i-0123456789abcdef0",
        "aws://zone/extra/i-0123456789abcdef0",
        "i-0123",
        "node-1",
        "aws:/us-east-1a/i-0123456789abcdef0",
    ])
    func rejectsEverythingElse(text: String) {
        do {
            let parsed = try AWSProviderID(parsing: text)
            Issue.record("accepted \(text) as \(parsed)")
        } catch {
            #expect(error != .empty)
            if case .notAWS = error { Issue.record("\(text) misreported as not AWS") }
            #expect(error.description.contains(text))
        }
    }
}
