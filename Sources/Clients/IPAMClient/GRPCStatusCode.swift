/// A gRPC status code (grpc/doc/statuscodes.md), as the `grpc-status` trailer carries it. A code
/// this list does not name is kept as it came.
public struct GRPCStatusCode: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(integerLiteral value: Int) { rawValue = value }

    public static let ok: Self = 0
    public static let cancelled: Self = 1
    public static let unknown: Self = 2
    public static let invalidArgument: Self = 3
    public static let deadlineExceeded: Self = 4
    public static let notFound: Self = 5
    public static let alreadyExists: Self = 6
    public static let permissionDenied: Self = 7
    /// The daemon's answer when every address is in use or cooling down.
    public static let resourceExhausted: Self = 8
    public static let failedPrecondition: Self = 9
    public static let aborted: Self = 10
    public static let outOfRange: Self = 11
    public static let unimplemented: Self = 12
    public static let `internal`: Self = 13
    /// The daemon's answer while the node's addresses are not configured (or it is stopping).
    public static let unavailable: Self = 14
    public static let dataLoss: Self = 15
    public static let unauthenticated: Self = 16

    public var description: String { "\(rawValue)" }
}
