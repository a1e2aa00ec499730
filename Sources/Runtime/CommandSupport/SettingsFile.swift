import ArgumentParser
import Foundation
import Yams

/// A YAML settings file (a mounted ConfigMap): a mapping whose keys are setting names, the
/// same names as the flags. Maps (for KEY=VALUE lists) become `KEY=VALUE,…`.
public enum SettingsFile {
    public static func read<Setting>(_ path: String, as _: Setting.Type) throws -> [Setting: String]
    where Setting: RawRepresentable & CaseIterable & Hashable, Setting.RawValue == String {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read --config \(path): \(error.localizedDescription)")
        }
        guard let root = try Yams.load(yaml: text) as? [String: Any] else { throw ValidationError("\(path): expected a YAML mapping of settings") }
        var settings: [Setting: String] = [:]
        for (key, value) in root {
            guard let setting = Setting(rawValue: key) else {
                throw ValidationError("\(path): unknown setting \"\(key)\" (known: \(Setting.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if let map = value as? [String: Any] {
                settings[setting] = map.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            } else {
                settings[setting] = "\(value)"
            }
        }
        return settings
    }
}
