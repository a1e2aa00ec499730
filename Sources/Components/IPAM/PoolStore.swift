#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetContracts
import VPCNetCore

/// The pool's durable state in one JSON file, replaced atomically (temporary file, fsync,
/// rename) on every change, so after a crash it holds either the state before a change or the
/// state after it. Root-only (0600) in a root-only directory.
///
/// Every ADD and DEL rewrites the file, so it holds only what a restart needs: the allocations,
/// and the releases still cooling down. A release whose cooldown has ended constrains nothing
/// (in memory it still orders the free addresses, least recently used first; after a restart
/// such an address counts as never used). Keeping them all made each save encode every address
/// the node ever released: about 0.4 ms of the daemon's CPU per ADD and per DEL on a node of 300
/// addresses, the largest part of its time per call.
///
/// A file at `legacyPath` (where an older daemon kept it) is the current state until
/// ``adoptLegacyFile()`` moves it to `path` (an older daemon may have run since the last move);
/// ``AddressManager`` adopts it before it loads, so its saves are never shadowed.
public struct PoolStore: Sendable {
    public let path: String
    public let legacyPath: String?

    public init(path: String, legacyPath: String? = nil) {
        self.path = path
        self.legacyPath = legacyPath
    }

    /// The file ``load()`` reads: the legacy one while it exists.
    public var currentPath: String {
        if let legacyPath, FileManager.default.fileExists(atPath: legacyPath) { return legacyPath }
        return path
    }

    /// Moves the legacy file to `path`: written there first, then removed, so a crash in between
    /// leaves both with the same content (and the legacy one is still read). True if it moved.
    public func adoptLegacyFile() throws -> Bool {
        guard let legacyPath, currentPath == legacyPath, let bytes = try AtomicFile.read(legacyPath) else { return false }
        try AtomicFile.write(bytes, to: path, mode: 0o600)
        try AtomicFile.remove(legacyPath)
        return true
    }

    struct Document: Codable {
        var version: Int
        var allocations: [Allocation]
        /// Address → milliseconds since the epoch.
        var releasedAt: [String: Int64]
    }

    public struct Loaded: Sendable {
        public var allocations: [Allocation]
        public var releasedAt: [IPv4Address: Int64]
        /// Allocations dropped because another allocation already held the address (a state file
        /// from a buggy or foreign writer): the older one wins.
        public var duplicates: [Allocation]
    }

    public func load() throws -> Loaded {
        let path = currentPath
        guard let bytes = try AtomicFile.read(path) else { return Loaded(allocations: [], releasedAt: [:], duplicates: []) }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(bytes))
        } catch {
            throw PoolStoreError(path: path, reason: "\(error)")
        }
        guard document.version == 1 else { throw PoolStoreError(path: path, reason: "unsupported version \(document.version)") }
        var released: [IPv4Address: Int64] = [:]
        for (text, time) in document.releasedAt {
            guard let address = try? IPv4Address(parsing: text) else { throw PoolStoreError(path: path, reason: "bad address \(text)") }
            released[address] = time
        }
        var kept: [Allocation] = [], duplicates: [Allocation] = []
        var holders: Set<IPv4Address> = [], keys: Set<AttachmentKey> = []
        for allocation in document.allocations.sorted(by: { ($0.allocatedAt, $0.key) < ($1.allocatedAt, $1.key) }) {
            if holders.insert(allocation.address).inserted && keys.insert(allocation.key).inserted {
                kept.append(allocation)
            } else {
                duplicates.append(allocation)
            }
        }
        return Loaded(allocations: kept, releasedAt: released, duplicates: duplicates)
    }

    /// Persists `pool` as of `now` (milliseconds since the epoch): releases older than the
    /// cooldown are left out. Allocations are written in address order (an integer sort) and
    /// object keys unsorted: sorting strings was a third of the encoding.
    public func save(_ pool: AddressPool, now: Int64) throws {
        let cooling = pool.releasedAt.filter { now - $0.value < pool.cooldownMilliseconds }
        let document = Document(version: 1, allocations: pool.allocations.values.sorted { $0.address.rawValue < $1.address.rawValue },
                                releasedAt: Dictionary(uniqueKeysWithValues: cooling.map { ($0.key.description, $0.value) }))
        try AtomicFile.write(Array(try JSONEncoder().encode(document)), to: path, mode: 0o600)
    }
}

public struct PoolStoreError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String {
        "the IPAM state file \(path) cannot be read (\(reason)); it is left untouched: move it aside to start afresh (running pods keep their addresses, but the daemon no longer knows them)"
    }
}
