@testable import AWSEC2
import Foundation
import MetricsTestKit
import Testing

/// The client against a real HTTP server that injects faults: the call succeeds within the
/// attempt budget or fails with the last typed error, and never retries more than allowed.
@Suite struct RetryAndFaultTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")
    static let ok = ScriptedHTTPServer.Behaviour.respond(status: 200, body: """
        <DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId>
        <vpcSet><item><vpcId>vpc-12345678</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><unknownNewField>x</unknownNewField></item></vpcSet>
        </DescribeVpcsResponse>
        """)
    static func ec2Error(_ code: String, status: Int) -> ScriptedHTTPServer.Behaviour {
        .respond(status: status, body: "<Response><Errors><Error><Code>\(code)</Code><Message>\(code) happened</Message></Error></Errors><RequestID>req-\(code)</RequestID></Response>")
    }

    /// Runs `body` with a server playing `script` and a fresh client and metrics.
    @discardableResult
    func withServer<T>(_ script: [ScriptedHTTPServer.Behaviour], retry: RetryPolicy? = nil, timeout: Duration = .seconds(5),
                       maxResponseBytes: Int = 1 << 20,
                       _ body: (EC2Client, ScriptedHTTPServer, TestMetrics) async throws -> T) async throws -> T {
        let server = ScriptedHTTPServer(script: script)
        try await server.start()
        let http = AWSHTTPClient(maxResponseBytes: maxResponseBytes)
        let metrics = TestMetrics()
        let client = EC2Client.forTesting(endpoint: server.url, credentials: Self.credentials, httpClient: http,
                                          retry: retry ?? RetryPolicy(baseBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
                                          timeout: timeout, metrics: metrics)
        do {
            let result = try await body(client, server, metrics)
            try await http.shutdown()
            await server.stop()
            return result
        } catch {
            try? await http.shutdown()
            await server.stop()
            throw error
        }
    }

    @Test func throttlingIsRetriedUntilSuccess() async throws {
        try await withServer([Self.ec2Error("RequestLimitExceeded", status: 503), Self.ec2Error("RequestLimitExceeded", status: 503), Self.ok]) {
            client, server, metrics in
            let vpcs = try await client.describeVPCs()
            #expect(vpcs.map(\.id) == ["vpc-12345678"])
            #expect(server.requests.count == 3)
            #expect(metrics.counterTotal(label: "vpcnet_ec2_retries_total") == 2)
            #expect(metrics.counterTotal(label: "vpcnet_ec2_requests_total", dimensions: [("action", "DescribeVpcs"), ("outcome", "success")]) == 1)
            #expect(metrics.counterTotal(label: "vpcnet_ec2_attempts_total", dimensions: [("action", "DescribeVpcs"), ("outcome", "RequestLimitExceeded")]) == 2)
            #expect(try metrics.expectTimer("vpcnet_ec2_request_duration_seconds", [("action", "DescribeVpcs")]).values.count == 1)
        }
    }

    @Test func serverErrorsWithHTMLBodiesAreRetried() async throws {
        try await withServer([.respond(status: 500, body: "<html><body><h1>500 Internal Server Error</h1></body></html>",
                                       headers: [("Content-Type", "text/html")]),
                              .respond(status: 502, body: ""), Self.ok]) { client, server, _ in
            _ = try await client.describeVPCs()
            #expect(server.requests.count == 3)
        }
    }

    @Test func droppedConnectionsAndTruncatedBodiesAreRetried() async throws {
        try await withServer([.drop, .truncate(status: 200, body: "<DescribeVpcsResponse><vpcSet>", declared: 5000), Self.ok]) {
            client, server, _ in
            _ = try await client.describeVPCs()
            #expect(server.requests.count == 3)
        }
    }

    @Test func slowResponsesTimeOutAndAreRetried() async throws {
        try await withServer([.delay(.seconds(6), Self.ok), Self.ok], timeout: .seconds(1)) { client, server, metrics in
            _ = try await client.describeVPCs()
            #expect(server.requests.count == 2)
            #expect(metrics.counterTotal(label: "vpcnet_ec2_retries_total", dimensions: [("action", "DescribeVpcs"), ("reason", "timeout")]) == 1)
        }
    }

    @Test func persistentThrottlingFailsWithTheLastTypedErrorAfterTheAttemptBudget() async throws {
        try await withServer(Array(repeating: Self.ec2Error("RequestLimitExceeded", status: 503), count: 10)) { client, server, _ in
            do {
                _ = try await client.describeVPCs()
                Issue.record("succeeded against a throttling server")
            } catch let error as EC2Error {
                #expect(error.code == .requestLimitExceeded)
                #expect(error.isThrottling)
                if case .api(let api) = error { #expect(api.requestID == "req-RequestLimitExceeded" && api.statusCode == 503) }
            }
            #expect(server.requests.count == 3, "maxAttempts is 3: no retry storm")
        }
    }

    @Test func expiredCredentialsAreRefreshedAndRetriedOnce() async throws {
        try await withServer([Self.ec2Error("RequestExpired", status: 400), Self.ok]) { client, server, _ in
            _ = try await client.describeVPCs()
            #expect(server.requests.count == 2)
        }
        try await withServer([Self.ec2Error("RequestExpired", status: 400), Self.ec2Error("RequestExpired", status: 400), Self.ok]) {
            client, server, _ in
            await #expect(throws: EC2Error.self) { try await client.describeVPCs() }
            #expect(server.requests.count == 2, "only one retry for expired credentials")
        }
    }

    @Test func permanentErrorsAreNotRetried() async throws {
        try await withServer([Self.ec2Error("UnauthorizedOperation", status: 403), Self.ok]) { client, server, _ in
            await #expect(throws: EC2Error.self) { try await client.describeVPCs() }
            #expect(server.requests.count == 1)
        }
        try await withServer([Self.ec2Error("AttachmentLimitExceeded", status: 400)]) { client, server, _ in
            do {
                _ = try await client.attachNetworkInterface(id: "eni-12345678", instanceID: "i-12345678", deviceIndex: 3)
                Issue.record("attach succeeded")
            } catch let error as EC2Error {
                #expect(error.code == .attachmentLimitExceeded)
                #expect(!error.isRetryable)
            }
            #expect(server.requests.count == 1)
        }
    }

    @Test func retryQuotaStopsRetryStorms() async throws {
        // Quota 10, cost 5: two retries in total across all calls, then every call fails at once.
        let retry = RetryPolicy(maxAttempts: 5, baseBackoff: .milliseconds(1), maxBackoff: .milliseconds(2), quotaCapacity: 10)
        try await withServer([], retry: retry) { client, server, _ in
            for _ in 0..<5 {
                await #expect(throws: EC2Error.self) { try await client.describeVPCs() }
            }
            #expect(server.requests.count == 5 + 2, "5 first attempts plus the 2 retries the quota paid for")
            #expect(client.quota.available == 0)
        }
    }

    @Test func badBodiesAreTypedErrorsNotCrashes() async throws {
        let bodies: [(String, String)] = [
            ("not xml at all", "not well-formed"),
            ("<DescribeVpcsResponse><vpcSet><item><vpcId>vpc-1</vpcId>", "not well-formed"),
            ("<DescribeVpcsResponse><vpcSet><item><cidrBlock>10.0.0.0/16</cidrBlock></item></vpcSet></DescribeVpcsResponse>", "vpcId"),
            ("", "empty body"),
        ]
        for (body, fragment) in bodies {
            try await withServer([.respond(status: 200, body: body)]) { client, server, _ in
                do {
                    _ = try await client.describeVPCs()
                    Issue.record("decoded \(body)")
                } catch let error as EC2Error {
                    guard case .invalidResponse(let status, let detail) = error else { Issue.record("\(error)"); return }
                    #expect(status == 200)
                    #expect(detail.contains(fragment), "\(detail)")
                }
                #expect(server.requests.count == 1, "a 200 with a bad body is not retried")
            }
        }
        // An error status whose body is not the envelope keeps the status and a preview.
        try await withServer([.respond(status: 400, body: "<html>bad gateway page</html>")]) { client, _, _ in
            do {
                _ = try await client.describeVPCs()
                Issue.record("an HTML 400 page was accepted as a response")
            } catch let error as EC2Error {
                guard case .invalidResponse(400, let detail) = error else { Issue.record("\(error)"); return }
                #expect(detail.contains("bad gateway page"))
            }
        }
    }

    @Test func hugeResponsesAreRefused() async throws {
        let huge = "<DescribeVpcsResponse><vpcSet>" + String(repeating: "<item><vpcId>vpc-12345678</vpcId><cidrBlock>10.0.0.0/16</cidrBlock></item>", count: 20_000) + "</vpcSet></DescribeVpcsResponse>"
        try await withServer([.respond(status: 200, body: huge)], maxResponseBytes: 64 << 10) { client, _, _ in
            await #expect(throws: EC2Error.responseTooLarge(limit: 64 << 10)) { try await client.describeVPCs() }
        }
    }

    @Test func requestsAreSignedFormPosts() async throws {
        try await withServer([Self.ok]) { client, server, _ in
            _ = try await client.describeVPCs(ids: ["vpc-12345678"])
            let request = try #require(server.requests.first)
            #expect(request.method == "POST")
            #expect(request.body == "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-12345678")
            let authorization = try #require(request.headers.first { $0.0.lowercased() == "authorization" }?.1)
            #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"))
            #expect(authorization.contains("/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="))
        }
    }
}
