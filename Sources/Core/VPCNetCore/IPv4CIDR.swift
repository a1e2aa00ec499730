/// An IPv4 network: a base address with no host bits set, and a prefix length 0...32.
///
/// `IPv4CIDR(parsing:)` rejects `10.0.0.5/24` (host bits set) because a route or subnet written
/// that way is almost always a mistake, and the kernel refuses such route prefixes anyway; use
/// `IPv4CIDR(containing:prefixLength:)` to mask deliberately.
public struct IPv4CIDR: Hashable, Sendable {
    /// The first address of the block (the network address).
    public let network: IPv4Address
    public let prefixLength: Int

    /// Creates the block of the given prefix length that contains `address`.
    public init(containing address: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength), "prefix length \(prefixLength) outside 0...32")
        self.prefixLength = prefixLength
        self.network = IPv4Address(rawValue: address.rawValue & Self.mask(prefixLength))
    }

    /// Parses `a.b.c.d/n`, throwing when the address, the prefix, or the host bits are wrong.
    public init(parsing text: some StringProtocol) throws(IPv4ParseError) {
        let string = String(text)
        let expected = "an IPv4 CIDR like 10.0.0.0/16"
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw IPv4ParseError(input: string, expected: expected, reason: "missing '/prefix'") }
        guard let address = IPv4Address(parts[0]) else {
            throw IPv4ParseError(input: string, expected: expected, reason: "'\(parts[0])' is not an IPv4 address")
        }
        let prefixText = parts[1]
        guard let prefix = Int(prefixText), (0...32).contains(prefix),
              prefixText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              prefixText == "0" || !prefixText.hasPrefix("0")
        else { throw IPv4ParseError(input: string, expected: expected, reason: "prefix length must be 0...32") }
        let cidr = IPv4CIDR(containing: address, prefixLength: prefix)
        guard cidr.network == address else {
            throw IPv4ParseError(input: string, expected: expected, reason: "host bits are set; the network is \(cidr)")
        }
        self = cidr
    }

    /// The netmask as an address, e.g. 255.255.240.0 for /20.
    public var netmask: IPv4Address { IPv4Address(rawValue: Self.mask(prefixLength)) }

    /// The last address of the block.
    public var broadcast: IPv4Address { IPv4Address(rawValue: network.rawValue | ~Self.mask(prefixLength)) }

    /// The number of addresses in the block (2^(32-prefix)); up to 2^32, hence 64-bit.
    public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    public func contains(_ address: IPv4Address) -> Bool {
        address.rawValue & Self.mask(prefixLength) == network.rawValue
    }

    /// True when every address of `other` is in this block.
    public func contains(_ other: IPv4CIDR) -> Bool {
        other.prefixLength >= prefixLength && contains(other.network)
    }

    public func overlaps(_ other: IPv4CIDR) -> Bool { contains(other.network) || other.contains(network) }

    /// Every address of the block, network and broadcast included, in ascending order.
    public var addresses: AddressSequence { AddressSequence(first: network.rawValue, last: broadcast.rawValue) }

    /// The aligned sub-blocks of `prefixLength` inside this block (e.g. the /28 prefixes of a
    /// subnet), in ascending order; empty when `prefixLength` is shorter than this block's.
    public func subnets(prefixLength sub: Int) -> [IPv4CIDR] {
        precondition((0...32).contains(sub), "prefix length \(sub) outside 0...32")
        guard sub >= prefixLength else { return [] }
        let step = UInt64(1) << UInt64(32 - sub)
        return stride(from: UInt64(network.rawValue), through: UInt64(broadcast.rawValue), by: Int(step)).map {
            IPv4CIDR(containing: IPv4Address(rawValue: UInt32($0)), prefixLength: sub)
        }
    }

    static func mask(_ prefixLength: Int) -> UInt32 {
        prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength)
    }

    /// Ascending addresses `first...last`, without materialising them.
    public struct AddressSequence: Sequence, Sendable {
        let first: UInt32
        let last: UInt32

        public func makeIterator() -> Iterator { Iterator(upcoming: UInt64(first), last: UInt64(last)) }

        public struct Iterator: IteratorProtocol, Sendable {
            var upcoming: UInt64
            let last: UInt64
            public mutating func next() -> IPv4Address? {
                guard upcoming <= last else { return nil }
                defer { upcoming += 1 }
                return IPv4Address(rawValue: UInt32(upcoming))
            }
        }
    }
}

// MARK: - AWS VPC conventions

extension IPv4CIDR {
    /// The VPC router of an AWS subnet: the network address plus one. Every ENI's default route
    /// in its own table points here.
    public var awsGateway: IPv4Address { IPv4Address(rawValue: network.rawValue &+ 1) }

    /// AWS reserves the first four addresses and the last one of every subnet (network, router,
    /// DNS, future use, broadcast). Subnets are /16.../28, so the range is never empty there.
    public var awsReservedAddresses: [IPv4Address] {
        guard size >= 8 else { return Array(addresses) }
        return (0..<4).map { IPv4Address(rawValue: network.rawValue + $0) } + [broadcast]
    }

    /// The addresses EC2 may hand out in this subnet, ascending.
    public var awsAssignableAddresses: AddressSequence {
        guard size >= 8 else { return AddressSequence(first: 1, last: 0) }
        return AddressSequence(first: network.rawValue + 4, last: broadcast.rawValue - 1)
    }
}

extension IPv4CIDR: CustomStringConvertible {
    public var description: String { "\(network)/\(prefixLength)" }
}

extension IPv4CIDR: Comparable {
    public static func < (lhs: IPv4CIDR, rhs: IPv4CIDR) -> Bool {
        (lhs.network, lhs.prefixLength) < (rhs.network, rhs.prefixLength)
    }
}

extension IPv4CIDR: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try IPv4CIDR(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
