import Foundation
import NIOSSL

/// Where the API server is and how to authenticate to it: built by hand, from a kubeconfig
/// (``KubeConfig``), or from the pod's service account (``inCluster(environment:serviceAccount:)``).
public struct KubeConnection: Sendable {
    public var server: URL
    /// A bearer token; when `tokenFile` is set it is re-read on every request (service-account
    /// tokens are rotated by the kubelet) and wins over `token`.
    public var token: String?
    public var tokenFile: String?
    /// Tokens from an exec credential plugin (e.g. `aws eks get-token`), cached until they expire.
    public var exec: ExecCredentialPlugin?
    /// The CA that signs the server's certificate, as a file or as PEM text.
    public var caFile: String?
    public var caPEM: String?
    /// A client certificate and its key, PEM text (kubeconfig `client-certificate(-data)`, `client-key(-data)`).
    public var clientCertificatePEM: String?
    public var clientKeyPEM: String?
    public var insecureSkipTLSVerify: Bool
    /// The namespace a kubeconfig context names (or the service account's), for callers that want a default.
    public var namespace: String?

    public init(server: URL, token: String? = nil, tokenFile: String? = nil, exec: ExecCredentialPlugin? = nil,
                caFile: String? = nil, caPEM: String? = nil, clientCertificatePEM: String? = nil, clientKeyPEM: String? = nil,
                insecureSkipTLSVerify: Bool = false, namespace: String? = nil) {
        self.server = server
        self.token = token
        self.tokenFile = tokenFile
        self.exec = exec
        self.caFile = caFile
        self.caPEM = caPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.namespace = namespace
    }

    /// In-cluster configuration: `KUBERNETES_SERVICE_HOST`/`PORT`, the service-account token and CA.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccount: String = "/var/run/secrets/kubernetes.io/serviceaccount") -> KubeConnection? {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"],
              let url = URL(string: "https://\(host.contains(":") ? "[\(host)]" : host):\(port)") else { return nil }
        let namespace = (try? String(contentsOfFile: "\(serviceAccount)/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return KubeConnection(server: url, tokenFile: "\(serviceAccount)/token", caFile: "\(serviceAccount)/ca.crt", namespace: namespace)
    }

    /// The connection a command-line tool should use, in client-go's order: an explicit kubeconfig
    /// path, then `$KUBECONFIG`, then the in-cluster service account, then `~/.kube/config`.
    public static func resolve(kubeconfig: String? = nil, context: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KubeConnection {
        if let kubeconfig { return try KubeConfig.load(paths: [kubeconfig]).connection(context: context) }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            return try KubeConfig.load(paths: list.split(separator: ":").map(String.init)).connection(context: context)
        }
        if let inCluster = inCluster(environment: environment) { return inCluster }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let fallback = "\(home)/.kube/config"
        guard FileManager.default.fileExists(atPath: fallback) else {
            throw KubeConfigError("no Kubernetes API configured: pass --kubeconfig, set KUBECONFIG, or run in a pod")
        }
        return try KubeConfig.load(paths: [fallback]).connection(context: context)
    }

    func bearerToken() async throws(KubeError) -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw .transport("cannot read the token file \(tokenFile)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let exec { return try await exec.token() }
        return token
    }

    func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caPEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        } else if let caFile {
            tls.trustRoots = .file(caFile)
        }
        if insecureSkipTLSVerify { tls.certificateVerification = .none }
        if let clientCertificatePEM, let clientKeyPEM {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(clientCertificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(clientKeyPEM.utf8), format: .pem))
        }
        return tls
    }
}
