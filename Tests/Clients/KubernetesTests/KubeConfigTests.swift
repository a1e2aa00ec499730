import Foundation
@testable import Kubernetes
import Testing

@Suite struct KubeConfigTests {
    static let ca = Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()

    @Test func currentContextSelectsClusterUserAndNamespace() throws {
        let config = try KubeConfig.parse("""
            apiVersion: v1
            kind: Config
            clusters:
            - name: prod
              cluster: {server: "https://10.0.0.1:6443", certificate-authority: certs/ca.crt}
            - name: dev
              cluster: {server: "https://dev:6443", insecure-skip-tls-verify: true}
            users:
            - name: admin
              user: {token: abc, tokenFile: secrets/token}
            contexts:
            - name: prod
              context: {cluster: prod, user: admin, namespace: kube-system}
            - name: dev
              context: {cluster: dev, user: admin}
            current-context: prod
            """, directory: "/etc/vpcnet")
        let prod = try config.connection()
        #expect(prod.server.absoluteString == "https://10.0.0.1:6443")
        #expect(prod.caFile == "/etc/vpcnet/certs/ca.crt" && prod.tokenFile == "/etc/vpcnet/secrets/token" && prod.token == "abc")
        #expect(prod.namespace == "kube-system" && !prod.insecureSkipTLSVerify)
        let dev = try config.connection(context: "dev")
        #expect(dev.insecureSkipTLSVerify && dev.namespace == nil)
    }

    @Test func filesMergeFirstDefinitionWins() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            clusters: [{name: c, cluster: {server: "https://first:443"}}]
            users: [{name: u, user: {token: first}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """.write(toFile: directory + "/a", atomically: true, encoding: .utf8)
        try """
            clusters: [{name: c, cluster: {server: "https://second:443"}}, {name: d, cluster: {server: "https://d:443"}}]
            users: [{name: u, user: {token: second}}]
            contexts: [{name: y, context: {cluster: d, user: u}}]
            current-context: y
            """.write(toFile: directory + "/b", atomically: true, encoding: .utf8)
        let merged = try KubeConnection.resolve(environment: ["KUBECONFIG": "\(directory)/a:\(directory)/missing:\(directory)/b"])
        #expect(merged.server.host == "first" && merged.token == "first")
        let other = try KubeConnection.resolve(context: "y", environment: ["KUBECONFIG": "\(directory)/a:\(directory)/b"])
        #expect(other.server.host == "d" && other.token == "first", "user u comes from the first file")
    }

    @Test func inlineDataAndExecArePreserved() throws {
        let config = try KubeConfig.parse("""
            clusters: [{name: c, cluster: {server: "https://h", certificate-authority-data: \(Self.ca)}}]
            users:
            - name: eks
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1beta1
                  command: aws
                  args: [eks, get-token, --cluster-name, prod]
                  env: [{name: AWS_PROFILE, value: ops}]
            contexts: [{name: x, context: {cluster: c, user: eks}}]
            current-context: x
            """)
        let connection = try config.connection()
        #expect(connection.caPEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
        #expect(connection.exec?.configuration == .init(apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws",
                                                        arguments: ["eks", "get-token", "--cluster-name", "prod"], environment: ["AWS_PROFILE": "ops"]))
    }

    @Test(arguments: [
        ("clusters: [{name: c, cluster: {server: x}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x", "not an http(s) URL"),
        ("contexts: [{name: x, context: {cluster: nope}}]\ncurrent-context: x", "does not define"),
        ("clusters: [{name: c, cluster: {server: \"https://h\"}}]\ncontexts: [{name: x, context: {cluster: c, user: ghost}}]\ncurrent-context: x", "user \"ghost\""),
        ("clusters: []\ncurrent-context: missing", "not in the kubeconfig"),
        ("clusters: [{name: c, cluster: {server: \"https://h\"}}]", "no current-context"),
        ("users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}}]", "not supported"),
        ("users: [{name: u, user: {auth-provider: {name: gcp}}}]", "does not support"),
        ("users: [{name: u, user: {client-certificate-data: \"!!\"}}]\nclusters: [{name: c, cluster: {server: \"https://h\"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x", "base64"),
        ("- just\n- a list", "expected a mapping"),
        ("clusters: {c: 1}", "must be a list"),
        ("key: [unclosed", "not valid YAML"),
    ])
    func badFilesSayWhatIsWrong(text: String, expected: String) {
        do {
            _ = try KubeConfig.parse(text).connection()
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test func noConfigurationAnywhereIsAClearError() {
        #expect(throws: KubeConfigError.self) { try KubeConnection.resolve(environment: ["HOME": "/nonexistent"]) }
        let inCluster = try? KubeConnection.resolve(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        #expect(inCluster?.server.absoluteString == "https://10.96.0.1:443")
        #expect(inCluster?.tokenFile == "/var/run/secrets/kubernetes.io/serviceaccount/token")
    }
}
