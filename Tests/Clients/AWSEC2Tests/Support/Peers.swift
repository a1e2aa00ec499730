import AWSEC2
import Foundation
import Metrics
import TestSupport

/// Runs a Python peer script from `Tests/peers`, feeding `input` on stdin; returns stdout.
func runPeer(_ script: String, arguments: [String] = [], input: Data = Data()) async throws -> Data {
    let path = Repository.path("Tests/peers/\(script)")
    let result = try await Subprocess.run(["/usr/bin/env", "python3", path] + arguments, input: input)
    guard result.status == 0 else {
        throw PeerError(message: "\(script) exited \(result.status): \(String(decoding: result.stderr, as: UTF8.self))")
    }
    return result.stdout
}

struct PeerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test peer).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw PeerError(message: "cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A real `moto_server` on 127.0.0.1 with SigV4 verification on: the first
/// `INITIAL_NO_AUTH_ACTION_COUNT` requests are free (the setup script spends them creating an IAM
/// user with a key), every later request's signature is checked by botocore inside moto.
final class MotoServer: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// What `moto_setup.py` created.
    struct Fixture: Decodable {
        var access_key: String
        var secret_key: String
        var vpc_id: String
        var vpc_cidr: String
        var subnet_id: String
        var subnet_cidr: String
        var az: String
        var sg_id: String
        var instance_id: String
        var role_arn: String
    }

    /// - Parameter verifySignatures: false starts moto with authentication off: needed for STS
    ///   `AssumeRoleWithWebIdentity`, which is unsigned by design but which moto rejects (HTTP 500)
    ///   once it enforces signatures.
    init(verifySignatures: Bool = true) throws {
        port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        if verifySignatures { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3" }
        // `timeout` bounds the server's life even if a test crashes before stop().
        pid = try Subprocess.spawnDetached(["/usr/bin/timeout", "-s", "KILL", "600", "moto_server", "-H", "127.0.0.1", "-p", String(port)],
                                           environment: environment)
    }

    /// Waits for the server, then creates the IAM user, VPC, subnet, group, instance and role.
    func setUp() async throws -> Fixture {
        let output = try await runPeer("moto_setup.py", arguments: [url.absoluteString])
        return try JSONDecoder().decode(Fixture.self, from: output)
    }

    func stop() {
        Subprocess.terminate(pid)
    }

    deinit { stop() }
}

extension EC2Client {
    /// A client for a local test endpoint with fast retries.
    static func forTesting(endpoint: String, credentials: AWSCredentials, httpClient: AWSHTTPClient,
                           retry: RetryPolicy = RetryPolicy(baseBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
                           timeout: Duration = .seconds(10), budget: RateBudget = RateBudget(),
                           metrics: (any MetricsFactory)? = nil) -> EC2Client {
        EC2Client(configuration: .init(region: "us-east-1", endpoint: URL(string: endpoint)!, requestTimeout: timeout, retry: retry),
                  credentials: StaticCredentialProvider(credentials), httpClient: httpClient, rateBudget: budget,
                  metricsFactory: metrics ?? MetricsSystem.factory)
    }
}
