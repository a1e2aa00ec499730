import Foundation

/// The AWS shared files: `~/.aws/credentials` (`[name]` sections) and `~/.aws/config`
/// (`[default]` and `[profile name]` sections), located by `AWS_SHARED_CREDENTIALS_FILE`,
/// `AWS_CONFIG_FILE` and `HOME`, with the profile from `AWS_PROFILE` (else `default`).
public struct SharedConfigFiles: Sendable {
    public var profile: String
    /// Keys of the profile from both files; the credentials file wins on conflicts.
    public var settings: [String: String]

    public init(environment: [String: String]) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let credentialsPath = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configPath = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        let configSection = profile == "default" ? "default" : "profile \(profile)"
        var merged = Self.parse(Self.read(configPath))[configSection] ?? [:]
        merged.merge(Self.parse(Self.read(credentialsPath))[profile] ?? [:]) { _, credentialsFile in credentialsFile }
        settings = merged
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// A small INI reader for the AWS files: `[section]`, `key = value`, `#`/`;` comments.
    /// Nested (indented) sub-settings, as used for S3, are skipped.
    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            if rawLine.first == " " || rawLine.first == "\t" { continue }
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                sections[current!, default: [:]] = sections[current!] ?? [:]
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[section]?[key] = value
        }
        return sections
    }
}

/// Static keys from the profile's `aws_access_key_id` / `aws_secret_access_key` / `aws_session_token`.
public struct SharedFileCredentialProvider: AWSCredentialProvider {
    let files: SharedConfigFiles
    public init(files: SharedConfigFiles) { self.files = files }

    public func resolve() async throws(EC2Error) -> AWSCredentials? {
        let s = files.settings
        switch (s["aws_access_key_id"], s["aws_secret_access_key"]) {
        case (nil, nil): return nil
        case (let key?, let secret?):
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: s["aws_session_token"])
        default:
            throw .credentials("profile '\(files.profile)' has only one of aws_access_key_id and aws_secret_access_key")
        }
    }
}
