/// EC2's request-rate limits: a token bucket per API action, per account and Region. The figures
/// are the EC2 documentation's ("Request throttling for the Amazon EC2 API",
/// docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): each action is evaluated on
/// its own bucket. The client budgets with them (``RateBudget``) and the simulator enforces them.
///
/// Not modelled: the smaller bucket of unfiltered, unpaginated DescribeInstances and
/// DescribeNetworkInterfaces (50, 10/s: vpcnet always filters), and the resource-rate limits of
/// RunInstances and TerminateInstances.
public enum EC2RequestLimits {
    public struct Bucket: Sendable, Hashable, Codable {
        public var capacity: Double
        public var refillPerSecond: Double

        public init(capacity: Double, refillPerSecond: Double) {
            precondition(capacity >= 1 && refillPerSecond > 0, "a bucket needs capacity ≥ 1 and a positive refill rate")
            self.capacity = capacity
            self.refillPerSecond = refillPerSecond
        }
    }

    /// `Describe*` actions without a figure of their own.
    public static let nonMutating = Bucket(capacity: 100, refillPerSecond: 20)
    /// Other actions without a figure of their own (AttachNetworkInterface, DetachNetworkInterface among them).
    public static let mutating = Bucket(capacity: 50, refillPerSecond: 5)
    /// The actions the documentation lists with a bucket of their own.
    public static let actions: [String: Bucket] = [
        "CreateNetworkInterface": Bucket(capacity: 100, refillPerSecond: 5),
        "DeleteNetworkInterface": Bucket(capacity: 100, refillPerSecond: 5),
        "AssignPrivateIpAddresses": Bucket(capacity: 100, refillPerSecond: 5),
        "UnassignPrivateIpAddresses": Bucket(capacity: 100, refillPerSecond: 5),
        "AssignIpv6Addresses": Bucket(capacity: 100, refillPerSecond: 5),
        "ModifyNetworkInterfaceAttribute": Bucket(capacity: 100, refillPerSecond: 5),
        "CreateTags": Bucket(capacity: 100, refillPerSecond: 10),
        "DeleteTags": Bucket(capacity: 100, refillPerSecond: 10),
    ]

    /// The bucket EC2 evaluates `action` against.
    public static func bucket(for action: String) -> Bucket {
        actions[action] ?? (action.hasPrefix("Describe") ? nonMutating : mutating)
    }
}
