@testable import AWSEC2
import Foundation
import Synchronization
import Testing

@Suite struct CredentialTests {
    @Test func environmentKeys() async throws {
        let full = EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"])
        #expect(try await full.resolve() == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "S", sessionToken: "T"))
        #expect(try await EnvironmentCredentialProvider(environment: [:]).resolve() == nil)
        await #expect(throws: EC2Error.self) { try await EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID"]).resolve() }
    }

    @Test func sharedFilesWithProfiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        # comment
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = default-secret

        [ops]
        aws_access_key_id=AKIDOPS
        aws_secret_access_key=ops/secret+=
        aws_session_token = ops-token
        """.write(to: dir.appendingPathComponent("credentials"), atomically: true, encoding: .utf8)
        try """
        [default]
        region = eu-west-1
        [profile ops]
        region = ap-southeast-2
        s3 =
          max_concurrent_requests = 20
        [profile irsa]
        role_arn = arn:aws:iam::123456789012:role/x
        web_identity_token_file = /var/run/token
        """.write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let base = ["AWS_SHARED_CREDENTIALS_FILE": dir.appendingPathComponent("credentials").path,
                    "AWS_CONFIG_FILE": dir.appendingPathComponent("config").path]

        let defaults = SharedConfigFiles(environment: base)
        #expect(defaults.settings["region"] == "eu-west-1")
        #expect(try await SharedFileCredentialProvider(files: defaults).resolve()?.accessKeyID == "AKIDDEFAULT")

        let ops = SharedConfigFiles(environment: base.merging(["AWS_PROFILE": "ops"]) { $1 })
        #expect(ops.settings["region"] == "ap-southeast-2")
        #expect(try await SharedFileCredentialProvider(files: ops).resolve()
            == AWSCredentials(accessKeyID: "AKIDOPS", secretAccessKey: "ops/secret+=", sessionToken: "ops-token"))

        let irsa = SharedConfigFiles(environment: base.merging(["AWS_PROFILE": "irsa"]) { $1 })
        #expect(try await SharedFileCredentialProvider(files: irsa).resolve() == nil)
        #expect(irsa.settings["web_identity_token_file"] == "/var/run/token")

        let missing = SharedConfigFiles(environment: ["AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"])
        #expect(try await SharedFileCredentialProvider(files: missing).resolve() == nil)
    }

    @Test func chainTakesTheFirstConfiguredSource() async throws {
        let chain = CredentialChain([
            EnvironmentCredentialProvider(environment: [:]),
            StaticCredentialProvider(AWSCredentials(accessKeyID: "SECOND", secretAccessKey: "s")),
            StaticCredentialProvider(AWSCredentials(accessKeyID: "THIRD", secretAccessKey: "s")),
        ])
        #expect(try await chain.resolve()?.accessKeyID == "SECOND")
        #expect(try await CredentialChain([]).resolve() == nil)
    }

    /// Counts resolutions and hands out credentials that expire `lifetime` after `clock`.
    final class CountingProvider: AWSCredentialProvider {
        let calls = Mutex(0)
        let clock: Mutex<Date>
        let lifetime: TimeInterval
        init(clock: Date, lifetime: TimeInterval) { self.clock = Mutex(clock); self.lifetime = lifetime }
        func resolve() async throws(EC2Error) -> AWSCredentials? {
            let n = calls.withLock { $0 += 1; return $0 }
            return AWSCredentials(accessKeyID: "KEY\(n)", secretAccessKey: "s", sessionToken: "t",
                                  expiration: clock.withLock { $0 }.addingTimeInterval(lifetime))
        }
    }

    @Test func temporaryCredentialsAreRefreshedBeforeTheyExpire() async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let source = CountingProvider(clock: start, lifetime: 3600)
        let now = Mutex(start)
        let cache = CachingCredentialProvider(source, now: { now.withLock { $0 } })

        #expect(try await cache.credentials().accessKeyID == "KEY1")
        #expect(try await cache.credentials().accessKeyID == "KEY1", "cached while fresh")
        #expect(source.calls.withLock { $0 } == 1)

        // 10 minutes before expiry: still valid, so callers get the cached key while one refresh runs.
        now.withLock { $0 = start.addingTimeInterval(3000) }
        source.clock.withLock { $0 = start.addingTimeInterval(3000) }
        async let a = cache.credentials()
        async let b = cache.credentials()
        let early = try await [a, b].map(\.accessKeyID)
        #expect(early.allSatisfy { $0 == "KEY1" || $0 == "KEY2" })
        var refreshed = ""
        for _ in 0..<400 {
            refreshed = try await cache.credentials().accessKeyID
            if refreshed == "KEY2" { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(refreshed == "KEY2")
        #expect(source.calls.withLock { $0 } == 2, "one background refresh, not one per caller")

        // Expired: callers wait for exactly one refresh.
        now.withLock { $0 = start.addingTimeInterval(3000 + 3600) }
        async let c = cache.credentials()
        async let d = cache.credentials()
        #expect(try await [c, d].map(\.accessKeyID) == ["KEY3", "KEY3"])
        #expect(source.calls.withLock { $0 } == 3)
    }

    @Test func noCredentialsAnywhereIsAClearError() async {
        let cache = CachingCredentialProvider(CredentialChain([EnvironmentCredentialProvider(environment: [:])]))
        do {
            _ = try await cache.credentials()
            Issue.record("found credentials")
        } catch {
            guard case .credentials(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("AWS_ACCESS_KEY_ID") && message.contains("AWS_WEB_IDENTITY_TOKEN_FILE"))
        }
    }

    @Test func instanceMetadataV2() async throws {
        let expiration = "2030-01-01T00:00:00Z"
        let server = ScriptedHTTPServer(script: [
            .respond(status: 200, body: "TOKEN-1"),
            .respond(status: 200, body: "node-role\n"),
            .respond(status: 200, body: #"{"Code":"Success","AccessKeyId":"ASIAIMDS","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":"\#(expiration)"}"#),
            .respond(status: 200, body: "us-west-2"),
        ])
        try await server.start()
        let http = AWSHTTPClient()
        let metadata = InstanceMetadataClient(endpoint: URL(string: "http://127.0.0.1:\(server.port)")!, httpClient: http)
        let credentials = try await InstanceMetadataCredentialProvider(metadata: metadata).resolve()
        #expect(credentials?.accessKeyID == "ASIAIMDS" && credentials?.sessionToken == "imds-token")
        #expect(credentials?.expiration == ISO8601.parse(expiration))
        let environment = AWSEnvironment(variables: [:])
        let region = try await environment.region(files: SharedConfigFiles(environment: ["AWS_CONFIG_FILE": "/nonexistent",
                                                                                         "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"]),
                                                  metadata: metadata)
        #expect(region == "us-west-2")
        let requests = server.requests
        #expect(requests.map { "\($0.method) \($0.uri)" } == [
            "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/node-role", "GET /latest/meta-data/placement/region",
        ])
        #expect(requests[0].headers.contains { $0.0 == "X-aws-ec2-metadata-token-ttl-seconds" && $0.1 == "21600" })
        #expect(requests.dropFirst().allSatisfy { $0.headers.contains { $0.0 == "X-aws-ec2-metadata-token" && $0.1 == "TOKEN-1" } },
                "one session token serves every read")
        try await http.shutdown()
        await server.stop()
    }

    @Test func containerCredentialsForEKSPodIdentity() async throws {
        let server = ScriptedHTTPServer(script: [
            .respond(status: 200, body: #"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"pod-secret","Token":"pod-token","Expiration":"2030-01-01T00:00:00Z","AccountId":"123456789012"}"#),
            .respond(status: 500, body: "agent restarting"),
            .respond(status: 200, body: #"{"AccessKeyId":"ASIAPOD2","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T01:00:00Z"}"#),
        ])
        try await server.start()
        let http = AWSHTTPClient()
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-pod-token-\(UUID().uuidString)")
        try "token-1\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let environment = ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(server.port)/v1/credentials",
                           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile.path]
        let provider = try #require(try ContainerCredentialProvider(environment: environment, httpClient: http))
        #expect(try await provider.resolve()?.accessKeyID == "ASIAPOD")
        try "token-2\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        #expect(try await provider.resolve()?.accessKeyID == "ASIAPOD2", "a 500 from the agent is retried")
        let requests = server.requests
        #expect(requests.map(\.uri) == ["/v1/credentials", "/v1/credentials", "/v1/credentials"])
        #expect(requests.first?.headers.first { $0.0 == "Authorization" }?.1 == "token-1")
        #expect(requests.last?.headers.first { $0.0 == "Authorization" }?.1 == "token-2", "the rotated token file is re-read")

        #expect(try ContainerCredentialProvider(environment: [:], httpClient: http) == nil)
        #expect(throws: EC2Error.self) {
            try ContainerCredentialProvider(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example.com/creds"], httpClient: http)
        }
        try await http.shutdown()
        await server.stop()
    }

    @Test func noMetadataServiceMeansNotConfigured() async throws {
        let http = AWSHTTPClient(connectTimeout: .milliseconds(200))
        let metadata = InstanceMetadataClient(endpoint: URL(string: "http://127.0.0.1:\(try freePort())")!, httpClient: http)
        #expect(try await InstanceMetadataCredentialProvider(metadata: metadata).resolve() == nil)
        #expect(InstanceMetadataClient(environment: ["AWS_EC2_METADATA_DISABLED": "true"], httpClient: http) == nil)
        try await http.shutdown()
    }

    @Test func regionAndEndpointResolution() async throws {
        let noFiles = SharedConfigFiles(environment: ["AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"])
        #expect(try await AWSEnvironment(variables: ["AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "x"]).region(files: noFiles, metadata: nil) == "eu-central-1")
        #expect(try await AWSEnvironment(variables: ["AWS_DEFAULT_REGION": "sa-east-1"]).region(files: noFiles, metadata: nil) == "sa-east-1")
        await #expect(throws: EC2Error.self) { try await AWSEnvironment(variables: [:]).region(files: noFiles, metadata: nil) }

        #expect(try AWSEnvironment(variables: [:]).endpoint(service: "ec2", region: "us-east-2").absoluteString == "https://ec2.us-east-2.amazonaws.com")
        #expect(try AWSEnvironment(variables: [:]).endpoint(service: "sts", region: "cn-north-1").absoluteString == "https://sts.cn-north-1.amazonaws.com.cn")
        let overridden = AWSEnvironment(variables: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_EC2": "http://127.0.0.1:6000"])
        #expect(try overridden.endpoint(service: "ec2", region: "us-east-1").absoluteString == "http://127.0.0.1:6000")
        #expect(try overridden.endpoint(service: "sts", region: "us-east-1").absoluteString == "http://127.0.0.1:5000")
        var ignored = overridden
        ignored.variables["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        #expect(try ignored.endpoint(service: "ec2", region: "us-east-1").absoluteString == "https://ec2.us-east-1.amazonaws.com")
        #expect(throws: EC2Error.self) { try AWSEnvironment(variables: ["AWS_ENDPOINT_URL_EC2": "not a url"]).endpoint(service: "ec2", region: "x") }
    }
}
