import ArgumentParser
import Foundation
import VPCNetCore
import Yams

/// A YAML settings file (a mounted ConfigMap): a mapping whose keys are setting names, the
/// same names as the flags. Maps (for KEY=VALUE lists) become `KEY=VALUE,…`.
public enum SettingsFile {
    public static func read(_ path: String, known: [String]) throws -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read --config \(path): \(error.localizedDescription)")
        }
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw ValidationError("\(path): expected a YAML mapping of settings") }
        var settings: [String: String] = [:]
        for (key, value) in root {
            guard known.contains(key) else {
                throw ValidationError("\(path): unknown setting \"\(key)\" (known: \(known.joined(separator: ", ")))")
            }
            if let map = value as? [String: Any] {
                settings[key] = map.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            } else {
                settings[key] = "\(value)"
            }
        }
        return settings
    }
}

extension SettingTable {
    /// The configuration from the flags given, the environment and the settings file of
    /// `--config` (else `VPCNET_CONFIG`), as every executable resolves its settings; a bad value
    /// is a usage error naming where it came from.
    public func resolve(flags: [String: String], configFile flag: String?, environment: [String: String]) throws -> Configuration {
        let file = try (flag ?? environment["VPCNET_CONFIG"]).map { try SettingsFile.read($0, known: names) } ?? [:]
        do {
            return try resolve(flags: flags, environment: environment, file: file)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
