/// The AWS instance behind a Kubernetes Node, parsed from `spec.providerID`.
///
/// Accepted forms (those the in-tree and external AWS cloud providers and kubelet's
/// `--provider-id` produce):
/// - `aws:///us-east-1a/i-0123456789abcdef0` (the usual one: empty host, zone, instance)
/// - `aws://us-east-1a/i-0123456789abcdef0` (zone as the host)
/// - `aws:///i-0123456789abcdef0` and `aws:////i-0123456789abcdef0` (no zone)
/// - `i-0123456789abcdef0` (a bare instance ID, as older kubelets set it)
///
/// Anything else is rejected. ``ProviderIDError/notAWS(_:)`` separates nodes of other providers
/// (kind, GCE, EKS hybrid nodes, …), which the controller skips quietly, from malformed AWS IDs
/// (such as Fargate's `aws:///us-east-1a/<hash>/fargate-ip-…`), which deserve an Event.
public struct AWSProviderID: Hashable, Sendable, CustomStringConvertible {
    public var availabilityZone: String?
    public var instanceID: InstanceID

    public init(availabilityZone: String?, instanceID: InstanceID) {
        self.availabilityZone = availabilityZone
        self.instanceID = instanceID
    }

    public init(parsing text: String) throws(ProviderIDError) {
        if text.isEmpty { throw .empty }
        if let id = InstanceID(rawValue: text) {
            self.init(availabilityZone: nil, instanceID: id)
            return
        }
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else {
            throw .malformed(text, reason: "expected aws:///<zone>/<instance-id> or a bare instance ID")
        }
        let scheme = text[..<colon]
        guard scheme == "aws" else { throw .notAWS(String(scheme)) }

        let rest = text[colon...].dropFirst(3)
        if rest.contains(where: { $0 == "?" || $0 == "#" || $0 == " " || $0 == "%" }) {
            throw .malformed(text, reason: "unexpected query, fragment, space or escape")
        }
        // `rest` is "host/path": the host is a zone or empty, the path one or two segments.
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = rest[..<slash]
        let segments = rest[slash...].split(separator: "/", omittingEmptySubsequences: true)
        let zone: Substring?
        let idText: Substring
        switch (host.isEmpty, segments.count) {
        case (_, 1): zone = host.isEmpty ? nil : host; idText = segments[0]
        case (true, 2): zone = segments[0]; idText = segments[1]
        default:
            throw .malformed(text, reason: "expected aws:///<zone>/<instance-id> (\(segments.count) path segments found)")
        }
        if let zone, !Self.isZoneName(zone) {
            throw .malformed(text, reason: "'\(zone)' is not an availability zone name")
        }
        guard let id = InstanceID(rawValue: String(idText)) else {
            throw .invalidInstanceID(text, String(idText))
        }
        self.init(availabilityZone: zone.map(String.init), instanceID: id)
    }

    /// The canonical form, `aws:///<zone>/<id>` (or `aws:///<id>` without a zone).
    public var description: String {
        if let availabilityZone { return "aws:///\(availabilityZone)/\(instanceID)" }
        return "aws:///\(instanceID)"
    }

    private static func isZoneName(_ text: Substring) -> Bool {
        // us-east-1a, us-gov-west-1b, us-west-2-lax-1a, us-east-1-wl1-bos-wlz-1: lowercase, digits, dashes.
        guard let first = text.first, first.isLetter else { return false }
        return text.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

public enum ProviderIDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `spec.providerID` is not set (yet): the cloud provider or kubelet has not initialised the node.
    case empty
    /// Another provider's scheme (`gce`, `kind`, `eks-hybrid`, …): not a node vpcnet manages.
    case notAWS(String)
    /// An `aws://` ID that does not have the shape of an instance's.
    case malformed(String, reason: String)
    /// The instance segment is not `i-` followed by 8 or 17 lowercase hex digits.
    case invalidInstanceID(String, String)

    public var description: String {
        switch self {
        case .empty: "the node has no provider ID yet"
        case .notAWS(let scheme): "provider ID scheme '\(scheme)' is not 'aws': not an EC2 instance"
        case .malformed(let text, let reason): "malformed AWS provider ID '\(text)': \(reason)"
        case .invalidInstanceID(let text, let id):
            "AWS provider ID '\(text)' does not name an instance: '\(id)' is not i- followed by 8 or 17 hex digits"
        }
    }
}
