/// Validated EC2 resource identifiers.
///
/// EC2 IDs are a type prefix, a dash and 8 (older resources) or 17 lowercase hex digits. Keeping
/// them as distinct types stops an ENI ID from being passed where a subnet ID is meant.
public protocol EC2ResourceID: RawRepresentable, Hashable, Comparable, Codable, Sendable,
    CustomStringConvertible where RawValue == String {
    /// The prefix before the dash: `i`, `eni`, `subnet`, `sg`, `vpc`, `eni-attach`.
    static var prefix: String { get }
    init(unchecked rawValue: String)
}

extension EC2ResourceID {
    public init?(rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.init(unchecked: rawValue)
    }

    /// Parses an ID, throwing an error that names the expected form.
    public init(parsing text: String) throws(EC2IDError) {
        guard let id = Self(rawValue: text) else { throw EC2IDError(input: text, prefix: Self.prefix) }
        self = id
    }

    public static func isValid(_ text: String) -> Bool {
        let utf8 = text.utf8
        let prefixBytes = Self.prefix.utf8.count + 1
        guard utf8.count == prefixBytes + 8 || utf8.count == prefixBytes + 17,
              text.hasPrefix(Self.prefix + "-") else { return false }
        return utf8.dropFirst(prefixBytes).allSatisfy { byte in
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        }
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = Self(rawValue: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: EC2IDError(input: text, prefix: Self.prefix).description)
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

public struct InstanceID: EC2ResourceID {
    public static let prefix = "i"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct NetworkInterfaceID: EC2ResourceID {
    public static let prefix = "eni"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct AttachmentID: EC2ResourceID {
    public static let prefix = "eni-attach"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct SubnetID: EC2ResourceID {
    public static let prefix = "subnet"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct SecurityGroupID: EC2ResourceID {
    public static let prefix = "sg"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct VPCID: EC2ResourceID {
    public static let prefix = "vpc"
    public let rawValue: String
    public init(unchecked rawValue: String) { self.rawValue = rawValue }
}

public struct EC2IDError: Error, Hashable, Sendable, CustomStringConvertible {
    public var input: String
    public var prefix: String

    public init(input: String, prefix: String) {
        self.input = input
        self.prefix = prefix
    }

    public var description: String {
        "'\(input)' is not an EC2 ID of the form \(prefix)- followed by 8 or 17 lowercase hex digits"
    }
}

/// A 48-bit Ethernet address, written and compared in lowercase colon form (`0a:3e:1f:4e:c6:d2`),
/// as EC2 reports `macAddress` and as the daemon matches kernel links to ENIs.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Accepts `aa:bb:cc:dd:ee:ff` in either case; anything else is `nil`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.utf8.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    public var description: String {
        bytes.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]], as: UTF8.self)
        }.joined(separator: ":")
    }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

extension MACAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let mac = MACAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a MAC address like 0a:3e:1f:4e:c6:d2")
        }
        self = mac
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
