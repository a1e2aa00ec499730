/// Every way an EC2 (or STS, or IMDS) call can fail, typed so callers decide by kind, not by text.
public enum EC2Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// The service answered with its error envelope.
    case api(APIError)
    /// The connection failed or broke (refused, reset, closed mid-response, TLS).
    case transport(String)
    /// No complete response within the request timeout.
    case timeout(seconds: Double)
    /// The response could not be understood: not XML, truncated, missing required elements.
    case invalidResponse(status: Int, detail: String)
    /// The response body exceeded the configured limit and was not read further.
    case responseTooLarge(limit: Int)
    /// No credentials could be found or refreshed.
    case credentials(String)
    /// The caller passed something the API cannot take; nothing was sent.
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .api(let e): return e.description
        case .transport(let detail): return "EC2 transport error: \(detail)"
        case .timeout(let seconds): return "EC2 request timed out after \(seconds) s"
        case .invalidResponse(let status, let detail): return "EC2 response (HTTP \(status)) not understood: \(detail)"
        case .responseTooLarge(let limit): return "EC2 response larger than \(limit) bytes"
        case .credentials(let detail): return "AWS credentials: \(detail)"
        case .invalidRequest(let detail): return "invalid EC2 request: \(detail)"
        }
    }

    /// The API error code, when the service sent one.
    public var code: EC2ErrorCode? {
        if case .api(let e) = self { return e.code }
        return nil
    }

    /// Throttling: wait and retry; never a reason to give up on the work.
    public var isThrottling: Bool {
        if case .api(let e) = self { return e.code.isThrottling }
        return false
    }

    /// Worth retrying as is: throttling, server-side failures, broken connections, timeouts.
    public var isRetryable: Bool {
        switch self {
        case .api(let e): return e.code.isThrottling || e.code.isTransient || (500...599).contains(e.statusCode)
        case .transport, .timeout: return true
        case .invalidResponse(let status, _): return (500...599).contains(status)
        case .responseTooLarge, .credentials, .invalidRequest: return false
        }
    }
}

/// The service's error envelope: `<Response><Errors><Error><Code>…</Code><Message>…</Message>`.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: EC2ErrorCode
    public var message: String
    public var requestID: String?
    public var statusCode: Int

    public init(code: EC2ErrorCode, message: String, requestID: String?, statusCode: Int) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.statusCode = statusCode
    }

    public var description: String {
        "\(code.rawValue): \(message) (HTTP \(statusCode)\(requestID.map { ", request \($0)" } ?? ""))"
    }
}

/// EC2 error codes. The ones vpcnet acts on are named; any other arrives as itself.
public struct EC2ErrorCode: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public static let requestLimitExceeded: Self = "RequestLimitExceeded"
    public static let attachmentLimitExceeded: Self = "AttachmentLimitExceeded"
    public static let privateIpAddressLimitExceeded: Self = "PrivateIpAddressLimitExceeded"
    public static let insufficientFreeAddressesInSubnet: Self = "InsufficientFreeAddressesInSubnet"
    public static let insufficientCidrBlocks: Self = "InsufficientCidrBlocks"
    public static let networkInterfaceNotFound: Self = "InvalidNetworkInterfaceID.NotFound"
    public static let networkInterfaceInUse: Self = "InvalidNetworkInterface.InUse"
    public static let attachmentNotFound: Self = "InvalidAttachmentID.NotFound"
    public static let instanceNotFound: Self = "InvalidInstanceID.NotFound"
    public static let subnetNotFound: Self = "InvalidSubnetID.NotFound"
    public static let securityGroupNotFound: Self = "InvalidGroup.NotFound"
    public static let unauthorizedOperation: Self = "UnauthorizedOperation"
    public static let authFailure: Self = "AuthFailure"
    public static let signatureDoesNotMatch: Self = "SignatureDoesNotMatch"
    public static let requestExpired: Self = "RequestExpired"
    public static let invalidParameterValue: Self = "InvalidParameterValue"
    public static let internalError: Self = "InternalError"
    public static let serviceUnavailable: Self = "ServiceUnavailable"

    /// The throttling codes of the AWS SDKs' standard retry mode.
    public var isThrottling: Bool {
        [
            "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
            "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
            "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
            "EC2ThrottledException",
        ].contains(rawValue)
    }

    /// Transient server-side codes of the standard retry mode (plus STS's IdP hiccup).
    public var isTransient: Bool {
        ["RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
         "IDPCommunicationError"].contains(rawValue)
    }

    /// Credentials or signing are wrong: retrying cannot help, an operator must act.
    public var isAuthentication: Bool {
        [Self.authFailure, .signatureDoesNotMatch, "InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken",
         "InvalidAccessKeyId", "IncompleteSignature", "MissingAuthenticationToken"].contains(self)
    }
}
