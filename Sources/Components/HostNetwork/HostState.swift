#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Netlink
import VPCNetCore

/// What the daemon changed on the host that is not recognisable by number alone (its routes and
/// rules are: owned tables and priorities), with the values it found, so removing an ENI or
/// uninstalling puts them back. Persisted atomically before each change it protects.
public struct HostState: Codable, Sendable, Hashable {
    public struct ConfiguredLink: Codable, Sendable, Hashable {
        public var name: String
        public var originalMTU: UInt32
        public var wasUp: Bool
        /// The ENI's primary address as given to the link, `10.0.1.10/32`.
        public var address: IPv4Address
    }

    public var version = 1
    /// By MAC address.
    public var links: [MACAddress: ConfiguredLink] = [:]
    /// The value each sysctl had before vpcnet first wrote it.
    public var originalSysctls: [String: String] = [:]

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        guard version == 1 else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: container, debugDescription: "unsupported host state version \(version)")
        }
        let byText = try container.decode([String: ConfiguredLink].self, forKey: .links)
        for (text, link) in byText {
            guard let mac = MACAddress(text) else {
                throw DecodingError.dataCorruptedError(forKey: .links, in: container, debugDescription: "bad MAC address \(text)")
            }
            links[mac] = link
        }
        originalSysctls = try container.decode([String: String].self, forKey: .originalSysctls)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(Dictionary(uniqueKeysWithValues: links.map { ($0.key.description, $0.value) }), forKey: .links)
        try container.encode(originalSysctls, forKey: .originalSysctls)
    }

    enum CodingKeys: String, CodingKey { case version, links, originalSysctls }
}

/// The host state file: read at start, replaced atomically (root-only) on every change.
public struct HostStateFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public func load() throws -> HostState {
        guard let bytes = try AtomicFile.read(path) else { return HostState() }
        do {
            return try JSONDecoder().decode(HostState.self, from: Data(bytes))
        } catch {
            throw HostStateError(path: path, reason: "\(error)")
        }
    }

    public func save(_ state: HostState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(Array(try encoder.encode(state)), to: path, mode: 0o600)
    }

    public func remove() throws { try AtomicFile.remove(path) }
}

public struct HostStateError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String {
        "the host state file \(path) cannot be read (\(reason)); it is left untouched: move it aside to start afresh"
    }
}
