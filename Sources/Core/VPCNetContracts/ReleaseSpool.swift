#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import VPCNetCore

/// Releases the CNI plugin could not deliver (the daemon was down): one small file per attachment
/// in a root-only directory, written atomically by the plugin and replayed, then removed, by the
/// daemon at start. DEL so never blocks pod deletion, and never leaks an address.
public struct ReleaseSpool: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func spool(_ key: AttachmentKey) throws {
        try AtomicFile.requirePrivateDirectory(directory)
        let data = try JSONEncoder().encode(key)
        try AtomicFile.write(Array(data), to: "\(directory)/\(Self.fileName(key))", mode: 0o600)
    }

    /// Every spooled release, with its file (remove it once the release is recorded).
    public func pending() throws -> [(key: AttachmentKey, file: String)] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var entries: [(AttachmentKey, String)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasSuffix(".release") else { continue }
            let path = "\(directory)/\(name)"
            guard let bytes = try AtomicFile.read(path), let key = try? JSONDecoder().decode(AttachmentKey.self, from: Data(bytes)) else {
                continue
            }
            entries.append((key, path))
        }
        return entries.sorted { $0.0 < $1.0 }
    }

    /// A stable name per attachment (FNV-1a of its fields), so a repeated DEL overwrites its own file.
    static func fileName(_ key: AttachmentKey) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(key.network)\u{0}\(key.containerID)\u{0}\(key.interface)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + ".release"
    }
}
