import Foundation
@testable import Kubernetes
@testable import KubeSim
import Testing
import TestSupport

/// The client's TLS and credential paths against the simulator serving HTTPS with its own CA.
@Suite struct KubeAuthTests {
    static func server(tokens: Set<String>? = ["initial"]) async throws -> KubeAPIServer {
        try await KubeAPIServer.start(KubeAPI(store: KubeStore(), tokens: tokens), host: "127.0.0.1", port: 0, tls: true)
    }

    static func directory() throws -> String {
        let path = Scratch.path("kubeauth")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Lists nodes with `connection`, returning the error code (nil on success, 0 for transport failures).
    static func attempt(_ connection: KubeConnection) async throws -> Int? {
        let client = try KubeClient(connection: connection, requestTimeout: .seconds(10))
        return try await withTeardown({ () async throws -> Int? in
            do throws(KubeError) {
                _ = try await client.list(Node.self)
                return nil
            } catch {
                return error.code ?? 0
            }
        }, teardown: { try? await client.shutdown() })
    }

    @Test func kubeconfigWrittenByTheSimulatorWorksWithClientCertificateAndToken() async throws {
        let server = try await Self.server()
        try await withTeardown({
            let connection = try KubeConfig.parse(server.kubeconfig()).connection()
            #expect(connection.server.scheme == "https" && connection.namespace == "default")
            #expect(try await Self.attempt(connection) == nil)

            var certificateOnly = connection
            certificateOnly.token = nil
            #expect(try await Self.attempt(certificateOnly) == nil, "the admin client certificate alone authenticates")

            var tokenOnly = connection
            tokenOnly.clientCertificatePEM = nil
            tokenOnly.clientKeyPEM = nil
            #expect(try await Self.attempt(tokenOnly) == nil, "the token alone authenticates")
            tokenOnly.token = "wrong"
            #expect(try await Self.attempt(tokenOnly) == 401)

            // A client certificate from another CA proves nothing: refused in the handshake or unauthorized.
            let stranger = try SimCertificates.generate(hosts: ["127.0.0.1"])
            var forged = connection
            forged.token = nil
            forged.clientCertificatePEM = stranger.clientCertificatePEM
            forged.clientKeyPEM = stranger.clientKeyPEM
            #expect(try await Self.attempt(forged) != nil)

            var untrusted = connection
            untrusted.caPEM = nil
            #expect(try await Self.attempt(untrusted) == 0, "a server certificate from an unknown CA is refused")
            untrusted.insecureSkipTLSVerify = true
            #expect(try await Self.attempt(untrusted) == nil, "unless verification is explicitly skipped")
        }, teardown: { await server.stop() })
    }

    @Test func caFileAndRotatedTokenFileAreReadAgain() async throws {
        let server = try await Self.server()
        try await withTeardown({
            let directory = try Self.directory()
            let caFile = directory + "/ca.crt", tokenFile = directory + "/token"
            try server.certificates!.caPEM.write(toFile: caFile, atomically: true, encoding: .utf8)
            try "initial\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)

            let client = try KubeClient(connection: KubeConnection(server: server.url, tokenFile: tokenFile, caFile: caFile))
            try await withTeardown({
                _ = try await client.list(Node.self)
                // The kubelet rotates the projected token: the server stops accepting the old one...
                server.api.tokens.replace(["rotated"])
                await #expect(throws: KubeError.self) { _ = try await client.list(Node.self) }
                // ...and the same client picks the new file content up on its next request.
                try "rotated\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
                _ = try await client.list(Node.self)
            }, teardown: { try? await client.shutdown() })
        }, teardown: { await server.stop() })
    }

    @Test func execPluginTokensAreCachedUntilExpiryAndRefreshedOn401() async throws {
        let server = try await Self.server(tokens: ["token-1"])
        try await withTeardown({
            let directory = try Self.directory()
            // A plugin like `aws eks get-token`: prints an ExecCredential, counts its runs, and checks
            // that it was given KUBERNETES_EXEC_INFO and the env from the kubeconfig.
            let script = """
                #!/bin/sh
                set -e
                case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 3;; esac
                [ "$CLUSTER_NAME" = "sim" ] || { echo "no env" >&2; exit 4; }
                n=$(cat "\(directory)/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "\(directory)/runs"
                echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"token-'$n'","expirationTimestamp":"2099-01-01T00:00:00Z"}}'
                """
            try script.write(toFile: directory + "/get-token", atomically: true, encoding: .utf8)
            chmod(directory + "/get-token", 0o755)
            let caData = Data(server.certificates!.caPEM.utf8).base64EncodedString()
            let kubeconfig = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: sim
                  cluster: {server: "\(server.url.absoluteString)", certificate-authority-data: \(caData)}
                users:
                - name: eks
                  user:
                    exec:
                      apiVersion: client.authentication.k8s.io/v1
                      command: ./get-token
                      args: ["--cluster-name", "sim"]
                      env: [{name: CLUSTER_NAME, value: sim}]
                      interactiveMode: Never
                contexts:
                - name: sim
                  context: {cluster: sim, user: eks}
                current-context: sim
                """
            try kubeconfig.write(toFile: directory + "/config", atomically: true, encoding: .utf8)
            let connection = try KubeConnection.resolve(kubeconfig: directory + "/config", environment: [:])
            #expect(connection.exec?.configuration.command == directory + "/./get-token", "relative to the kubeconfig's folder")
            let client = try KubeClient(connection: connection)
            try await withTeardown({
                for _ in 0..<3 { _ = try await client.list(Node.self) }
                #expect(try String(contentsOfFile: directory + "/runs", encoding: .utf8) == "1\n", "one run serves every request until expiry")

                // The server revokes the token early: one 401, a second run, and the request succeeds.
                server.api.tokens.replace(["token-2"])
                _ = try await client.list(Node.self)
                #expect(try String(contentsOfFile: directory + "/runs", encoding: .utf8) == "2\n")
            }, teardown: { try? await client.shutdown() })
        }, teardown: { await server.stop() })
    }

    @Test func execPluginOutputIsChecked() throws {
        let v1 = "client.authentication.k8s.io/v1"
        #expect(throws: KubeError.self) { try ExecCredentialPlugin.parse("not json", expecting: v1) }
        #expect(throws: KubeError.self) {
            try ExecCredentialPlugin.parse(#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}"#, expecting: v1)
        }
        #expect(throws: KubeError.self) { try ExecCredentialPlugin.parse(#"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{}}"#, expecting: v1) }
        #expect(throws: KubeError.self) {
            try ExecCredentialPlugin.parse(#"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"soon"}}"#, expecting: v1)
        }
        let (token, expiry) = try ExecCredentialPlugin.parse(
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#, expecting: v1)
        #expect(token == "t" && expiry == ISO8601DateFormatter().date(from: "2030-01-02T03:04:05Z"))
    }

    @Test func aFailingPluginSaysWhy() async throws {
        let plugin = ExecCredentialPlugin(.init(command: "/bin/sh", arguments: ["-c", "echo 'aws: not configured' >&2; exit 2"],
                                                installHint: "install the AWS CLI"))
        do {
            _ = try await plugin.token()
            Issue.record("a failing plugin gave a token")
        } catch {
            #expect(error.description.contains("aws: not configured"))
        }
        let missing = ExecCredentialPlugin(.init(command: "vpcnet-no-such-plugin", installHint: "install the AWS CLI"))
        do {
            _ = try await missing.token()
            Issue.record("a missing plugin gave a token")
        } catch {
            #expect(error.description.contains("install the AWS CLI"))
        }
    }
}
