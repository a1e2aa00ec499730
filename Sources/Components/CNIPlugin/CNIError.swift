#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A CNI error result: printed on stdout as the spec's error object, with a non-zero exit.
public struct CNIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The spec's well-known codes (CNI spec, "Error" section), and ours from 100.
    public enum Code: Int, Sendable {
        case incompatibleVersion = 1
        case unsupportedField = 2
        case unknownContainer = 3
        case invalidEnvironment = 4
        case ioFailure = 5
        case decodingFailure = 6
        case invalidConfiguration = 7
        case tryAgainLater = 11
        case notAvailable = 50
        /// vpcnet: every address of the node is in use or cooling down.
        case noFreeAddress = 100
        /// vpcnet: the daemon refused for another reason (see msg).
        case daemonRefused = 101
    }

    public var code: Code
    public var message: String
    public var details: String

    public init(_ code: Code, _ message: String, details: String = "") {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "CNI error \(code.rawValue): \(message)\(details.isEmpty ? "" : " (\(details))")" }

    /// The error object of the spec, in `cniVersion`.
    public func json(cniVersion: String) -> String {
        struct Object: Encodable {
            var cniVersion: String, code: Int, msg: String, details: String?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Object(cniVersion: cniVersion, code: code.rawValue, msg: message,
                                               details: details.isEmpty ? nil : details))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
