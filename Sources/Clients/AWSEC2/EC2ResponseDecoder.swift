import Foundation
import XMLCoder

/// Decodes EC2/STS Query API XML. Any decoding problem — not XML, truncated, a required element
/// missing or of the wrong type — becomes ``EC2Error/invalidResponse(status:detail:)``; unknown
/// elements are ignored, as new API versions add them.
enum EC2ResponseDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], status: Int) throws(EC2Error) -> T {
        guard !body.isEmpty else { throw .invalidResponse(status: status, detail: "empty body") }
        do {
            let decoder = XMLDecoder()
            decoder.trimValueWhitespaces = true
            return try decoder.decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw .invalidResponse(status: status, detail: describe(error))
        } catch {
            throw .invalidResponse(status: status, detail: "not well-formed XML: \(error)")
        }
    }

    /// The error for a non-2xx response: the service's envelope when there is one, otherwise a
    /// description of what came back (an HTML page from a proxy, a truncated body, nothing).
    static func error(status: Int, body: [UInt8]) -> EC2Error {
        if let envelope = try? decode(ErrorEnvelope.self, from: body, status: status),
           let first = envelope.Errors?.Error.first ?? envelope.Error {
            return .api(APIError(code: EC2ErrorCode(rawValue: first.Code), message: first.Message ?? "",
                                 requestID: envelope.RequestID ?? envelope.RequestId, statusCode: status))
        }
        let preview = String(decoding: body.prefix(200), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ")
        return .invalidResponse(status: status, detail: body.isEmpty ? "empty error body" : "unrecognised error body: \(preview)")
    }

    /// EC2: `<Response><Errors><Error>…</Error></Errors><RequestID>`; STS: `<ErrorResponse><Error>…</Error><RequestId>`.
    private struct ErrorEnvelope: Decodable {
        struct Detail: Decodable {
            var Code: String
            var Message: String?
        }
        struct ErrorList: Decodable {
            var Error: [Detail]
        }
        var Errors: ErrorList?
        var Error: Detail?
        var RequestID: String?
        var RequestId: String?
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing element \(path(context.codingPath + [key]))"
        case .typeMismatch(let type, let context): return "element \(path(context.codingPath)) is not a \(type)"
        case .valueNotFound(let type, let context): return "element \(path(context.codingPath)) has no \(type) value"
        case .dataCorrupted(let context):
            return "\(context.debugDescription)\(context.codingPath.isEmpty ? "" : " at \(path(context.codingPath))")"
        @unknown default: return String(describing: error)
        }
    }
}

/// EC2 lists: `<xxxSet><item>…</item>…</xxxSet>`; an empty `<xxxSet/>` is an empty list.
struct XMLList<Element: Decodable>: Decodable {
    var items: [Element]
    enum CodingKeys: String, CodingKey { case item }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decodeIfPresent([Element].self, forKey: .item) ?? []
    }
}

extension KeyedDecodingContainer {
    /// A `<xxxSet>` list, empty when the element is absent.
    func list<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> [T] {
        try decodeIfPresent(XMLList<T>.self, forKey: key)?.items ?? []
    }

    /// A text element that may be absent or empty.
    func text(_ key: Key) throws -> String? {
        let value = try decodeIfPresent(String.self, forKey: key)
        return value?.isEmpty == true ? nil : value
    }
}
