import Foundation

/// The repository's files, for tests that read committed files (deploy/, the peers' scripts).
public enum Repository {
    /// The checkout's root: the nearest directory above this file that holds Package.swift.
    public static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path), directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory
    }()

    /// A file of the checkout by its path from the root, e.g. `deploy/iam-policy.json`.
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}
