import Foundation
import Yams

/// A kubeconfig file that cannot be used, with the reason in words a user can act on.
public struct KubeConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The parts of kubeconfig files (`clusters`, `users`, `contexts`, `current-context`) that
/// reaching an API server needs. The format is hand-modelled here; Yams only parses YAML.
///
/// Several files merge as kubectl merges `KUBECONFIG`: the first file to define a name (or the
/// current context) wins. Relative file paths inside a file resolve against that file's folder.
public struct KubeConfig: Sendable {
    struct Cluster: Sendable {
        var server: String
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool
    }

    struct User: Sendable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?
        var exec: ExecCredentialPlugin.Configuration?
    }

    struct Context: Sendable {
        var cluster: String
        var user: String
        var namespace: String?
    }

    var clusters: [String: Cluster] = [:]
    var users: [String: User] = [:]
    var contexts: [String: Context] = [:]
    public private(set) var currentContext: String?

    /// Reads and merges `paths` in order; missing files are skipped as kubectl skips them, but at
    /// least one must exist.
    public static func load(paths: [String]) throws -> KubeConfig {
        var config = KubeConfig()
        var found = false
        for path in paths where !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else { continue }
            found = true
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw KubeConfigError("cannot read kubeconfig \(path): \(error.localizedDescription)")
            }
            try config.merge(parsing: text, directory: (path as NSString).deletingLastPathComponent, origin: path)
        }
        guard found else { throw KubeConfigError("no kubeconfig found at \(paths.joined(separator: ":"))") }
        return config
    }

    /// Parses one file's text; `directory` anchors its relative paths.
    public static func parse(_ text: String, directory: String = FileManager.default.currentDirectoryPath) throws -> KubeConfig {
        var config = KubeConfig()
        try config.merge(parsing: text, directory: directory, origin: "kubeconfig")
        return config
    }

    /// The connection for `context` (default: the current context).
    public func connection(context name: String? = nil) throws -> KubeConnection {
        guard let contextName = name ?? currentContext, !contextName.isEmpty else {
            throw KubeConfigError("the kubeconfig has no current-context; name one with --context")
        }
        guard let context = contexts[contextName] else { throw KubeConfigError("context \"\(contextName)\" is not in the kubeconfig") }
        guard let cluster = clusters[context.cluster] else {
            throw KubeConfigError("context \"\(contextName)\" names cluster \"\(context.cluster)\", which the kubeconfig does not define")
        }
        guard let server = URL(string: cluster.server), server.scheme == "https" || server.scheme == "http", server.host != nil else {
            throw KubeConfigError("cluster \"\(context.cluster)\" has server \"\(cluster.server)\", which is not an http(s) URL")
        }
        let user = users[context.user] ?? User()
        if !context.user.isEmpty, users[context.user] == nil {
            throw KubeConfigError("context \"\(contextName)\" names user \"\(context.user)\", which the kubeconfig does not define")
        }
        let certificate = try Self.pem(data: user.clientCertificateData, file: user.clientCertificate, what: "client-certificate")
        let key = try Self.pem(data: user.clientKeyData, file: user.clientKey, what: "client-key")
        guard (certificate == nil) == (key == nil) else {
            throw KubeConfigError("user \"\(context.user)\" has a client certificate without its key, or a key without its certificate")
        }
        return KubeConnection(
            server: server, token: user.token, tokenFile: user.tokenFile, exec: user.exec.map { ExecCredentialPlugin($0) },
            caFile: cluster.certificateAuthority,
            caPEM: try Self.pem(data: cluster.certificateAuthorityData, file: nil, what: "certificate-authority-data"),
            clientCertificatePEM: certificate, clientKeyPEM: key,
            insecureSkipTLSVerify: cluster.insecureSkipTLSVerify, namespace: context.namespace)
    }

    static func pem(data: String?, file: String?, what: String) throws -> String? {
        if let data {
            guard let decoded = Data(base64Encoded: data.filter { !$0.isWhitespace }), let text = String(data: decoded, encoding: .utf8) else {
                throw KubeConfigError("\(what)-data is not base64-encoded PEM")
            }
            return text
        }
        guard let file else { return nil }
        do { return try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw KubeConfigError("cannot read \(what) file \(file): \(error.localizedDescription)")
        }
    }

    // MARK: Parsing

    private mutating func merge(parsing text: String, directory: String, origin: String) throws {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch { throw KubeConfigError("\(origin) is not valid YAML: \(error)") }
        guard let root = loaded as? [String: Any] else {
            if loaded == nil { return }
            throw KubeConfigError("\(origin) is not a kubeconfig (expected a mapping at the top)")
        }
        func resolve(_ path: String?) -> String? {
            guard let path, !path.isEmpty else { return nil }
            return path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
        }
        for (name, body) in try Self.named(root["clusters"], key: "cluster", origin: origin) where clusters[name] == nil {
            guard let server = body["server"] as? String else { throw KubeConfigError("\(origin): cluster \"\(name)\" has no server") }
            clusters[name] = Cluster(server: server, certificateAuthority: resolve(body["certificate-authority"] as? String),
                                     certificateAuthorityData: body["certificate-authority-data"] as? String,
                                     insecureSkipTLSVerify: body["insecure-skip-tls-verify"] as? Bool ?? false)
        }
        for (name, body) in try Self.named(root["users"], key: "user", origin: origin) where users[name] == nil {
            var user = User(token: body["token"] as? String, tokenFile: resolve(body["tokenFile"] as? String),
                            clientCertificate: resolve(body["client-certificate"] as? String),
                            clientCertificateData: body["client-certificate-data"] as? String,
                            clientKey: resolve(body["client-key"] as? String), clientKeyData: body["client-key-data"] as? String)
            if let exec = body["exec"] {
                user.exec = try ExecCredentialPlugin.Configuration(kubeconfig: exec, directory: directory, user: name)
            }
            for unsupported in ["auth-provider", "username", "password"] where body[unsupported] != nil {
                throw KubeConfigError("\(origin): user \"\(name)\" uses \(unsupported), which vpcnet does not support; use a token, client certificate or exec plugin")
            }
            users[name] = user
        }
        for (name, body) in try Self.named(root["contexts"], key: "context", origin: origin) where contexts[name] == nil {
            guard let cluster = body["cluster"] as? String else { throw KubeConfigError("\(origin): context \"\(name)\" has no cluster") }
            contexts[name] = Context(cluster: cluster, user: body["user"] as? String ?? "", namespace: body["namespace"] as? String)
        }
        if currentContext?.isEmpty ?? true, let current = root["current-context"] as? String { currentContext = current }
    }

    /// `[{name: N, <key>: {...}}]` as `(N, {...})` pairs, in file order.
    private static func named(_ value: Any?, key: String, origin: String) throws -> [(String, [String: Any])] {
        guard let value else { return [] }
        guard let list = value as? [Any] else { throw KubeConfigError("\(origin): \(key)s must be a list") }
        return try list.map { entry in
            guard let entry = entry as? [String: Any], let name = entry["name"] as? String else {
                throw KubeConfigError("\(origin): every entry of \(key)s needs a name")
            }
            return (name, entry[key] as? [String: Any] ?? [:])
        }
    }
}
