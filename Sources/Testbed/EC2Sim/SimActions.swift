import AWSEC2
import VPCNetCore

/// The actions the simulator serves: every ``EC2Action`` vpcnet's client sends, and the few only
/// the testbed sends to build its world (a VPC, subnets, groups, instances).
enum SimAction: Hashable, Sendable {
    case client(EC2Action)
    case testbed(TestbedAction)

    enum TestbedAction: String, CaseIterable, Sendable {
        case createVpc = "CreateVpc"
        case createSubnet = "CreateSubnet"
        case createSubnetCidrReservation = "CreateSubnetCidrReservation"
        case getSubnetCidrReservations = "GetSubnetCidrReservations"
        case deleteSubnetCidrReservation = "DeleteSubnetCidrReservation"
        case createSecurityGroup = "CreateSecurityGroup"
        case authorizeSecurityGroupIngress = "AuthorizeSecurityGroupIngress"
        case authorizeSecurityGroupEgress = "AuthorizeSecurityGroupEgress"
        case revokeSecurityGroupIngress = "RevokeSecurityGroupIngress"
        case revokeSecurityGroupEgress = "RevokeSecurityGroupEgress"
        case describeSecurityGroupRules = "DescribeSecurityGroupRules"
        case runInstances = "RunInstances"
        case terminateInstances = "TerminateInstances"
    }

    init?(rawValue: String) {
        if let action = EC2Action(rawValue: rawValue) {
            self = .client(action)
        } else if let action = TestbedAction(rawValue: rawValue) {
            self = .testbed(action)
        } else {
            return nil
        }
    }

    var rawValue: String {
        switch self {
        case .client(let action): action.rawValue
        case .testbed(let action): action.rawValue
        }
    }
}

/// The result of one action: the XML answer and the deferred state transitions it started.
struct SimOutcome {
    var xml: String
    var events: [SimEvent] = []
    var pendingAttachments: [(eniID: String, attachmentID: String)] = []
    var pendingDetachments: [(eniID: String, attachmentID: String)] = []
}

/// How a handler answers: the action's response envelope with its request ID.
struct SimReply {
    let action: String
    let requestID: String

    func xml(_ body: (inout XMLWriter) -> Void) -> String { XMLWriter.response(action: action, requestID: requestID, body) }
    var returnTrue: String { xml { $0.element("return", true) } }
}

/// One action over ``SimState``: parameter parsing, the state call, the XML answer.
typealias SimHandler = @Sendable (SimParameters, inout SimState, SimReply) throws(SimError) -> SimOutcome

/// The action registry: one handler per ``SimAction``.
enum SimActions {
    static let handlers: [SimAction: SimHandler] = SimNetworkActions.handlers
        .merging(SimENIActions.handlers) { first, _ in first }
        .merging(SimReservationActions.handlers) { first, _ in first }
        .merging(SimSecurityGroupActions.handlers) { first, _ in first }

    static func handle(_ action: SimAction, _ p: SimParameters, state: inout SimState, requestID: String) throws(SimError) -> SimOutcome {
        guard let handler = handlers[action] else {
            throw SimError("InvalidAction", "The action \(action.rawValue) is not valid for this web service.")
        }
        return try handler(p, &state, SimReply(action: action.rawValue, requestID: requestID))
    }

    /// Every Describe of resources kept by ID: each explicit ID must exist (else `notFound`), then
    /// the filters narrow, then a page in ID order.
    static func describe<T>(_ items: [T], _ p: SimParameters, ids parameter: String, exists: (String) -> Bool,
                            notFound: (String) -> SimError, fields: [String: SimFilter.Extractor<T>],
                            tags: @escaping (T) -> [SimTag], id: (T) -> String) throws(SimError) -> (page: [T], next: String?) {
        let ids = p.list(parameter)
        var selected = items.sorted { id($0) < id($1) }
        if !ids.isEmpty {
            for missing in ids where !exists(missing) { throw notFound(missing) }
            selected = selected.filter { ids.contains(id($0)) }
        }
        selected = try SimFilter.apply(p.filters(), to: selected, fields: fields, tags: tags)
        return try paginate(selected, p, explicitIDs: !ids.isEmpty, id: id)
    }

    /// `MaxResults` (5…1000, 100 for instance types) and a `NextToken` cursor: the ID after which
    /// the next page starts, so deletions between pages skip nothing. `items` must be sorted by
    /// `id`. EC2 refuses `MaxResults` together with explicit IDs.
    static func paginate<T>(_ items: [T], _ p: SimParameters, explicitIDs: Bool, maxPage: Int = 1000,
                            id: (T) -> String) throws(SimError) -> ([T], String?) {
        let maxResults = try p.int("MaxResults")
        if maxResults != nil && explicitIDs {
            throw SimError("InvalidParameterCombination", "The parameter MaxResults cannot be used with explicit resource IDs")
        }
        var remaining = items[...]
        if let token = p["NextToken"] {
            guard token.hasPrefix("sim-"), token.count > 4 else { throw SimError("InvalidParameterValue", "The token '\(token)' is invalid") }
            let after = String(token.dropFirst(4))
            remaining = items.drop { id($0) <= after }
        }
        guard let maxResults else { return (Array(remaining), nil) }
        guard (5...maxPage).contains(maxResults) else {
            throw .invalid("Value (\(maxResults)) for parameter maxResults is invalid. Expecting a value between 5 and \(maxPage).")
        }
        let page = Array(remaining.prefix(maxResults))
        return (page, remaining.count > maxResults ? page.last.map { "sim-\(id($0))" } : nil)
    }
}
