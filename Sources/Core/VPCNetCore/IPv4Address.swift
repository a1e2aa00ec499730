/// An IPv4 address as a 32-bit value in host byte order.
///
/// Parsing is strict dotted-quad: exactly four decimal octets, each 0...255, no leading zeros
/// (`010` is ambiguous between octal and decimal in other tools, so it is rejected, as Go's
/// `net.ParseIP` does), no whitespace, no suffix. The textual form round-trips:
/// `IPv4Address(parsing: a.description) == a` for every address.
public struct IPv4Address: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: UInt32

    @inlinable
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses a dotted-quad address, throwing ``IPv4ParseError`` with the offending text.
    public init(parsing text: some StringProtocol) throws(IPv4ParseError) {
        guard let value = Self.parse(text.utf8) else { throw IPv4ParseError(input: String(text), expected: "an IPv4 address like 10.0.1.5") }
        rawValue = value
    }

    /// Parses a dotted-quad address; `nil` when the text is not one.
    public init?(_ text: some StringProtocol) {
        guard let value = Self.parse(text.utf8) else { return nil }
        rawValue = value
    }

    /// The four octets, most significant first.
    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
         UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue))
    }

    /// The address `n` positions after this one, or `nil` when that leaves the IPv4 space.
    public func advanced(by n: Int64) -> IPv4Address? {
        let target = Int64(rawValue) + n
        guard target >= 0, target <= Int64(UInt32.max) else { return nil }
        return IPv4Address(rawValue: UInt32(target))
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func parse(_ bytes: some Collection<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        var leadingZero = false
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if leadingZero { return nil }  // "01", "007"
                if digits == 0 && byte == UInt8(ascii: "0") { leadingZero = true }
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if octet > 255 { return nil }
            case UInt8(ascii: "."):
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0; digits = 0; dots += 1; leadingZero = false
            default:
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }
}

extension IPv4Address: CustomStringConvertible {
    public var description: String {
        let (a, b, c, d) = octets
        return "\(a).\(b).\(c).\(d)"
    }
}

extension IPv4Address: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = IPv4Address(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an IPv4 address")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A value that is not a well-formed IPv4 address or CIDR.
public struct IPv4ParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var input: String
    public var expected: String
    public var reason: String?

    public init(input: String, expected: String, reason: String? = nil) {
        self.input = input
        self.expected = expected
        self.reason = reason
    }

    public var description: String {
        var text = "'\(input)' is not \(expected)"
        if let reason { text += ": \(reason)" }
        return text
    }
}
