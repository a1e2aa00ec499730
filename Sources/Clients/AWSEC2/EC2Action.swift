/// Every EC2 action the typed operations of ``EC2Client`` send, and so every action vpcnet's
/// components call. `deploy/iam-policy.json` grants exactly these (a test compares the two); adding
/// an operation means adding its case here and its permission there.
public enum EC2Action: String, CaseIterable, Sendable {
    case assignPrivateIpAddresses = "AssignPrivateIpAddresses"
    case attachNetworkInterface = "AttachNetworkInterface"
    case createNetworkInterface = "CreateNetworkInterface"
    case createTags = "CreateTags"
    case deleteNetworkInterface = "DeleteNetworkInterface"
    case describeInstanceTypes = "DescribeInstanceTypes"
    case describeInstances = "DescribeInstances"
    case describeNetworkInterfaces = "DescribeNetworkInterfaces"
    case describeSecurityGroups = "DescribeSecurityGroups"
    case describeSubnets = "DescribeSubnets"
    case describeVpcs = "DescribeVpcs"
    case detachNetworkInterface = "DetachNetworkInterface"
    case modifyNetworkInterfaceAttribute = "ModifyNetworkInterfaceAttribute"
    case unassignPrivateIpAddresses = "UnassignPrivateIpAddresses"

    /// Whether the action changes anything (IAM scopes these to resources tagged with the cluster).
    public var isMutating: Bool { !rawValue.hasPrefix("Describe") }
}
