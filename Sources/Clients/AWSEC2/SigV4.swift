// AWS Signature Version 4, written by hand: no AWS SDK for Swift is available on this project's
// machines. Follows the published algorithm ("Create a signed AWS API request", AWS IAM docs);
// the tests compare every signature with botocore's `SigV4Auth`.

import Crypto
import Foundation

/// Signs HTTP requests with AWS Signature Version 4 (header form, `AWS4-HMAC-SHA256`).
public struct SigV4Signer: Sendable {
    public var region: String
    public var service: String

    public init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// A request to sign: only what the signature covers.
    public struct Request: Sendable {
        public var method: String
        public var url: URL
        /// Header names in any case; `host` is derived from `url` when absent.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(method: String, url: URL, headers: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    /// Returns the headers to add to the request: `X-Amz-Date`, `X-Amz-Security-Token` (with a
    /// session token), `Authorization`. Every header of `request` is signed, plus those.
    public func sign(_ request: Request, credentials: AWSCredentials, date: Date) -> [(name: String, value: String)] {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var added: [(name: String, value: String)] = [("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken { added.append(("X-Amz-Security-Token", token)) }

        var all = request.headers + added
        if !all.contains(where: { $0.name.lowercased() == "host" }) { all.append(("host", Self.hostHeader(request.url))) }
        let canonicalHeaders = Dictionary(grouping: all, by: { $0.name.lowercased() })
            .mapValues { $0.map { Self.trimmed($0.value) }.joined(separator: ",") }
            .sorted { $0.key < $1.key }
        let signedHeaders = canonicalHeaders.map(\.key).joined(separator: ";")
        let canonicalRequest = [
            request.method.uppercased(),
            Self.canonicalURI(request.url),
            Self.canonicalQuery(request.url),
            canonicalHeaders.map { "\($0.key):\($0.value)\n" }.joined(),
            signedHeaders,
            Self.hex(SHA256.hash(data: request.body)),
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8))))"
        let key = signingKey(secret: credentials.secretAccessKey, day: day)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        added.append(("Authorization",
                      "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    func signingKey(secret: String, day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    // MARK: Canonical forms

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC, without a formatter (formatters pull in ICU and are slow).
    static func amzDate(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2)
            + pad(secondOfDay % 3600 / 60, 2) + pad(secondOfDay % 60, 2) + "Z"
    }

    /// Parses `YYYYMMDD'T'HHMMSS'Z'`; `nil` when malformed.
    public static func parseAmzDate(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count == 16, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in digits[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
              let minute = number(11..<13), let second = number(13..<15),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days-from-civil (Howard Hinnant's algorithm), the inverse of `amzDate`.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let date = Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3600 + minute * 60 + second))
        return amzDate(date) == text ? date : nil
    }

    static func hostHeader(_ url: URL) -> String {
        var host = url.host ?? ""
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }  // an IPv6 literal, as sent on the wire
        guard let port = url.port else { return host }
        let isDefault = (url.scheme == "https" && port == 443) || (url.scheme == "http" && port == 80)
        return isDefault ? host : "\(host):\(port)"
    }

    static func canonicalURI(_ url: URL) -> String {
        let path = url.path.isEmpty ? "/" : url.path
        // Each segment is URI-encoded once, with '/' kept (services other than S3 double-encode,
        // but already-decoded paths from URL make once equivalent for the paths EC2 and STS use).
        return path.split(separator: "/", omittingEmptySubsequences: false)
            .map { percentEncode(String($0)) }.joined(separator: "/")
    }

    static func canonicalQuery(_ url: URL) -> String {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false), let items = components.queryItems else { return "" }
        return items.map { (percentEncode($0.name), percentEncode($0.value ?? "")) }
            .sorted { $0 < $1 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Trims and collapses every run of whitespace (tabs and line breaks included) to one space.
    static func trimmed(_ value: String) -> String {
        value.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// RFC 3986 encoding: everything but `A-Z a-z 0-9 - _ . ~` as uppercase `%XX` of UTF-8 bytes.
    static func percentEncode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigitsUpper[Int(byte >> 4)])
                out.append(hexDigitsUpper[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var out = [UInt8]()
        for byte in digest {
            out.append(hexDigitsLower[Int(byte >> 4)])
            out.append(hexDigitsLower[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigitsUpper = Array("0123456789ABCDEF".utf8)
    private static let hexDigitsLower = Array("0123456789abcdef".utf8)
}

/// `application/x-www-form-urlencoded` bodies of the EC2 and STS Query APIs.
///
/// Encoded as botocore encodes them (Python's `urlencode`): unreserved bytes kept, space as `+`,
/// everything else `%XX`, so a request of ours is byte-identical to the same request from boto3.
public enum QueryForm {
    public static func encode(_ parameters: [(String, String)]) -> String {
        parameters.map { "\(encodeComponent($0.0))=\(encodeComponent($0.1))" }.joined(separator: "&")
    }

    static func encodeComponent(_ text: String) -> String {
        SigV4Signer.percentEncode(text).replacingOccurrences(of: "%20", with: "+")
    }

    /// Decodes a form body back into ordered pairs; `nil` on a malformed escape or invalid UTF-8.
    public static func decode(_ body: String) -> [(String, String)]? {
        var result: [(String, String)] = []
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = decodeComponent(parts[0]), let value = decodeComponent(parts.count > 1 ? parts[1] : "") else { return nil }
            result.append((key, value))
        }
        return result
    }

    static func decodeComponent(_ text: Substring) -> String? {
        var bytes = [UInt8]()
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                      let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
