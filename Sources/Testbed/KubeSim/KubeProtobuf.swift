import Foundation
import VPCNetCore

/// Request bodies in the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`),
/// as kubectl's generator commands (`create namespace`, `create deployment`, `expose`, …) send
/// them: the `k8s\0` magic, a `runtime.Unknown` envelope naming the kind, and the object in the
/// wire format of the Kubernetes API's `generated.proto`, turned into the JSON the API server
/// would have stored (Go's `omitempty` rules, ``KubeProtobufSchema``).
///
/// Written by hand: swift-protobuf decodes messages it has generated code for, and generating
/// Kubernetes' whole API (core/v1 alone is thousands of lines of .proto) for the few kinds a
/// simulator serves would dwarf the simulator. A field or kind the schema does not hold is a
/// clear error naming it, never a silently dropped field.
enum KubeProtobuf {
    static let contentType = "application/vnd.kubernetes.protobuf"
    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    struct DecodingError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The object a body holds, with `kind` and `apiVersion` from its envelope.
    static func decode(_ body: [UInt8]) throws(DecodingError) -> JSONValue {
        guard body.count >= magic.count, Array(body.prefix(magic.count)) == magic else {
            throw DecodingError("a protobuf body starts with the bytes k8s\\0")
        }
        var envelope = WireReader(body[magic.count...])
        var apiVersion = "", kind = "", raw: ArraySlice<UInt8> = [], encoding = "", innerType = ""
        while let (number, value) = try envelope.next() {
            switch number {
            case 1:
                var typeMeta = WireReader(try value.bytes())
                while let (field, part) = try typeMeta.next() {
                    if field == 1 { apiVersion = try part.string() } else if field == 2 { kind = try part.string() }
                }
            case 2: raw = try value.bytes()
            case 3: encoding = try value.string()
            case 4: innerType = try value.string()
            default: throw DecodingError("field \(number) of runtime.Unknown is not defined")
            }
        }
        guard encoding.isEmpty, innerType.isEmpty || innerType == contentType else {
            throw DecodingError("the envelope holds \(innerType.isEmpty ? encoding : innerType), not a protobuf object")
        }
        guard let message = KubeProtobufSchema.kinds[kind] else {
            let known = KubeProtobufSchema.kinds.keys.sorted().joined(separator: ", ")
            throw DecodingError("the simulator decodes protobuf bodies of \(known), not \(kind.isEmpty ? "an unnamed kind" : kind): send it as JSON")
        }
        var object = try decodeMessage(message, raw)
        object["kind"] = .string(kind)
        object["apiVersion"] = .string(apiVersion)
        return object
    }

    static func decodeMessage(_ name: String, _ bytes: ArraySlice<UInt8>) throws(DecodingError) -> JSONValue {
        guard let schema = KubeProtobufSchema.messages[name] else { throw DecodingError("the simulator has no schema for \(name)") }
        var members: [String: JSONValue] = [:]
        var reader = WireReader(bytes)
        while let (number, value) = try reader.next() {
            guard let field = schema[number] else {
                throw DecodingError("field \(number) of \(name) is not one the simulator decodes: send the object as JSON")
            }
            if case .inline(let inner) = field.type {
                guard case .object(let flattened) = try decodeMessage(inner, try value.bytes()) else { continue }
                members.merge(flattened) { $1 }
                continue
            }
            switch field.shape {
            case .single:
                members[field.name] = try scalar(field.type, value, in: name)
            case .repeated:
                var list = members[field.name]?.arrayValue ?? []
                if value.isLengthDelimited, case .int = field.type {  // packed
                    var packed = WireReader(try value.bytes())
                    while let number = try packed.varintIfAny() { list.append(.int(Int64(bitPattern: number))) }
                } else {
                    list.append(try scalar(field.type, value, in: name))
                }
                members[field.name] = .array(list)
            case .map:
                var entry = WireReader(try value.bytes())
                var key = "", entryValue: JSONValue = field.type == .string ? "" : .null
                while let (part, content) = try entry.next() {
                    if part == 1 { key = try content.string() } else if part == 2 { entryValue = try scalar(field.type, content, in: name) }
                }
                var map = members[field.name]?.objectValue ?? [:]
                map[key] = entryValue
                members[field.name] = .object(map)
            }
        }
        // Go's encoding/json: value fields with omitempty are left out when zero or empty
        // (structs never are); pointers and fields without omitempty are written as they came.
        for field in schema.values where field.presence == .omitEmpty {
            guard let value = members[field.name] else { continue }
            if isEmpty(value, type: field.type) { members[field.name] = nil }
        }
        return .object(members)
    }

    static func isEmpty(_ value: JSONValue, type: KubeProtobufSchema.FieldType) -> Bool {
        switch value {
        case .null: return true
        case .string(let text): return text.isEmpty
        case .int(let number): return number == 0
        case .bool(let flag): return !flag
        case .array(let list): return list.isEmpty
        case .object(let members):
            if case .message = type { return false }
            return members.isEmpty
        case .double: return false
        }
    }

    static func scalar(_ type: KubeProtobufSchema.FieldType, _ value: WireValue, in message: String) throws(DecodingError) -> JSONValue {
        switch type {
        case .string: return .string(try value.string())
        case .int: return .int(Int64(bitPattern: try value.varint()))
        case .bool: return .bool(try value.varint() != 0)
        case .bytes: return .string(Data(try value.bytes()).base64EncodedString())
        case .message(let inner): return try decodeMessage(inner, try value.bytes())
        case .inline(let inner): return try decodeMessage(inner, try value.bytes())
        case .quantity:
            var reader = WireReader(try value.bytes())
            var text = ""
            while let (field, part) = try reader.next() { if field == 1 { text = try part.string() } }
            return .string(text)
        case .intOrString:
            var reader = WireReader(try value.bytes())
            var kind: UInt64 = 0, number: Int64 = 0, text = ""
            while let (field, part) = try reader.next() {
                switch field {
                case 1: kind = try part.varint()
                case 2: number = Int64(Int32(truncatingIfNeeded: Int64(bitPattern: try part.varint())))
                case 3: text = try part.string()
                default: throw DecodingError("field \(field) of IntOrString is not defined")
                }
            }
            return kind == 1 ? .string(text) : .int(number)
        case .time, .microTime:
            var reader = WireReader(try value.bytes())
            var seconds: Int64 = 0, nanos: Int64 = 0
            while let (field, part) = try reader.next() {
                if field == 1 { seconds = Int64(bitPattern: try part.varint()) } else if field == 2 { nanos = Int64(bitPattern: try part.varint()) }
            }
            if seconds == 0 && nanos == 0 { return .null }
            let date = Date(timeIntervalSince1970: Double(seconds) + (type == .microTime ? Double(nanos) / 1e9 : 0))
            return .string(type == .microTime ? date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
                                              : date.formatted(Date.ISO8601FormatStyle()))
        case .fieldsV1:
            var reader = WireReader(try value.bytes())
            var raw: ArraySlice<UInt8> = []
            while let (field, part) = try reader.next() { if field == 1 { raw = try part.bytes() } }
            do { return try JSONValue(parsing: raw) } catch { throw DecodingError("FieldsV1 does not hold JSON") }
        }
    }
}

/// One field's value as the wire format carries it.
enum WireValue {
    case varint(UInt64)
    case lengthDelimited(ArraySlice<UInt8>)
    case fixed(UInt64)

    var isLengthDelimited: Bool { if case .lengthDelimited = self { true } else { false } }

    func varint() throws(KubeProtobuf.DecodingError) -> UInt64 {
        guard case .varint(let value) = self else { throw KubeProtobuf.DecodingError("a number field is not a varint") }
        return value
    }

    func bytes() throws(KubeProtobuf.DecodingError) -> ArraySlice<UInt8> {
        guard case .lengthDelimited(let bytes) = self else { throw KubeProtobuf.DecodingError("a string, bytes or message field is not length-delimited") }
        return bytes
    }

    func string() throws(KubeProtobuf.DecodingError) -> String {
        guard let text = String(validating: try bytes(), as: UTF8.self) else { throw KubeProtobuf.DecodingError("a string is not UTF-8") }
        return text
    }
}

/// The protobuf wire format: tags (field number and wire type), varints, length-delimited
/// fields, and the fixed-size ones skipped over (Kubernetes' API uses none).
struct WireReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    mutating func next() throws(KubeProtobuf.DecodingError) -> (Int, WireValue)? {
        guard let tag = try varintIfAny() else { return nil }
        let number = Int(tag >> 3)
        guard number > 0 else { throw KubeProtobuf.DecodingError("field number 0") }
        switch tag & 7 {
        case 0:
            guard let value = try varintIfAny() else { throw KubeProtobuf.DecodingError("a varint is cut short") }
            return (number, .varint(value))
        case 1: return (number, .fixed(try fixed(8)))
        case 2:
            guard let length = try varintIfAny(), length <= UInt64(bytes.count) else { throw KubeProtobuf.DecodingError("a length-delimited field is cut short") }
            let start = bytes.startIndex
            defer { bytes = bytes[(start + Int(length))...] }
            return (number, .lengthDelimited(bytes[start..<(start + Int(length))]))
        case 5: return (number, .fixed(try fixed(4)))
        default: throw KubeProtobuf.DecodingError("wire type \(tag & 7) (groups) is not used by Kubernetes")
        }
    }

    mutating func varintIfAny() throws(KubeProtobuf.DecodingError) -> UInt64? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard let byte = bytes.popFirst() else { throw KubeProtobuf.DecodingError("a varint is cut short") }
            guard shift < 64 else { throw KubeProtobuf.DecodingError("a varint is longer than 10 bytes") }
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw KubeProtobuf.DecodingError("a varint is longer than 10 bytes")
    }

    private mutating func fixed(_ size: Int) throws(KubeProtobuf.DecodingError) -> UInt64 {
        guard bytes.count >= size else { throw KubeProtobuf.DecodingError("a fixed-size field is cut short") }
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(bytes.popFirst()!) << UInt64(8 * index) }
        return value
    }
}
