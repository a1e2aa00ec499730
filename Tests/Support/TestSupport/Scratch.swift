import Foundation
import Synchronization

/// Scratch files for tests, all under one directory per test process that is removed when the
/// process exits, so a run leaves nothing behind in /tmp whatever its tests do.
public enum Scratch {
    private static let root = Mutex<String?>(nil)

    /// A fresh path (not created) named after `name`.
    public static func path(_ name: String) -> String {
        let directory = root.withLock { root -> String in
            if let root { return root }
            let created = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-tests-\(getpid())").path
            try? FileManager.default.createDirectory(atPath: created, withIntermediateDirectories: true)
            atexit { try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-tests-\(getpid())").path) }
            root = created
            return created
        }
        return "\(directory)/\(name)-\(UUID().uuidString)"
    }
}
