import AWSEC2
import Foundation
import Synchronization
import VPCNetCore

/// An in-memory EC2 region that says "no" where EC2 does: instance-type ENI and address limits,
/// subnet exhaustion, attachment state machines, request throttling, SigV4, injected faults.
///
/// Thread-safe; every action runs atomically against the state. Transitions that EC2 performs
/// asynchronously (attaching → attached, detaching → detached) complete after the configured
/// delays, and each completed change is reported to ``Hooks`` so a simulated hypervisor and VPC
/// can follow.
public final class EC2Simulator: Sendable {
    /// The AWS documentation's example keys: the default everywhere in vpcnet's simulated cluster.
    public static let testAccessKeyID = "AKIAIOSFODNN7EXAMPLE"
    public static let testSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    public struct Configuration: Sendable {
        public var region: String
        /// Access key ID → secret. Requests signed with anything else are refused.
        public var keys: [String: String]
        public var verifySignatures: Bool
        public var attachDelay: Duration
        public var detachDelay: Duration
        /// Latency per action; `"*"` applies to actions without their own entry.
        public var latency: [String: SimLatency]

        public init(region: String = "us-east-1", keys: [String: String] = [EC2Simulator.testAccessKeyID: EC2Simulator.testSecretAccessKey],
                    verifySignatures: Bool = true, attachDelay: Duration = .zero, detachDelay: Duration = .zero,
                    latency: [String: SimLatency] = [:]) {
            self.region = region
            self.keys = keys
            self.verifySignatures = verifySignatures
            self.attachDelay = attachDelay
            self.detachDelay = detachDelay
            self.latency = latency
        }
    }

    /// Called, outside the state lock and in commit order, for every completed hardware change.
    public typealias Hook = @Sendable (SimEvent) -> Void

    public let configuration: Configuration
    public let throttle: SimThrottle
    public let faults = SimFaults()
    private let state: Mutex<SimState>
    private let hooks = Mutex<[Hook]>([])
    /// Serialises hook delivery (see `deliverPendingEvents`). Hooks must not block on the simulator.
    private let delivery = Mutex<Void>(())
    private let auth: SimAuth
    private let requestCounter = Atomic<Int>(0)
    /// Requests by action, and those answered `RequestLimitExceeded`: what a benchmark counts.
    private let actionCounts = Mutex<(calls: [String: Int], throttled: [String: Int])>(([:], [:]))

    public init(configuration: Configuration = Configuration(), throttle: SimThrottle = SimThrottle()) {
        self.configuration = configuration
        self.throttle = throttle
        state = Mutex(SimState(region: configuration.region, clock: { Date().formatted(.iso8601) }))
        auth = SimAuth(keys: configuration.keys, region: configuration.region)
    }

    public func addHook(_ hook: @escaping Hook) { hooks.withLock { $0.append(hook) } }

    /// Called after every action that succeeded, with the action and the caller's access key ID:
    /// tests count calls per action and per caller, and "crash" a client right after a given call.
    public typealias ActionObserver = @Sendable (_ action: String, _ accessKeyID: String?) -> Void
    public func addActionObserver(_ observer: @escaping ActionObserver) { actionObservers.withLock { $0.append(observer) } }
    private let actionObservers = Mutex<[ActionObserver]>([])

    /// The HTTP answer to one request.
    public struct Response: Sendable {
        public var status: Int
        public var body: String
        /// Close the connection without answering (an injected fault).
        public var drop = false
    }

    /// Handles one Query API request (POST form body, or GET with the parameters in the URL).
    public func handle(method: String, url: URL, headers: [(String, String)], body: [UInt8]) async -> Response {
        let requestID = UUID().uuidString.lowercased()
        requestCounter.add(1, ordering: .relaxed)
        var pairs = QueryForm.decode(String(decoding: body, as: UTF8.self)) ?? []
        if let query = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery, let decoded = QueryForm.decode(query) {
            pairs += decoded
        }
        let parameters = SimParameters(pairs)
        let action = parameters["Action"] ?? ""
        func failure(_ e: SimError) -> Response { Response(status: e.status, body: XMLWriter.error(e, requestID: requestID)) }

        if configuration.verifySignatures {
            do {
                try auth.verify(method: method, url: url, headers: headers, body: body, now: Date())
            } catch {
                return failure(error)
            }
        }
        guard let known = SimAction(rawValue: action), SimActions.handlers[known] != nil else {
            return failure(SimError("InvalidAction", "The action '\(action)' is not valid for this web service."))
        }
        let admitted = throttle.admit(action)
        actionCounts.withLock { counts in
            counts.calls[action, default: 0] += 1
            if !admitted { counts.throttled[action, default: 0] += 1 }
        }
        guard admitted else {
            return failure(SimError("RequestLimitExceeded", "Request limit exceeded.", status: 503))
        }
        if let latency = configuration.latency[action] ?? configuration.latency["*"] {
            try? await Task.sleep(for: latency.sample())
        }
        var dropResponse = false
        switch faults.next(action) {
        case .error(let code, let status, let message)?: return failure(SimError(code, message, status: status))
        case .drop?: return Response(status: 0, body: "", drop: true)
        case .dropResponse?: dropResponse = true
        case .delay(let duration)?: try? await Task.sleep(for: duration)
        case nil: break
        }
        if let bad = pairs.first(where: { Self.hasControlCharacters($0.1) }) {
            // XML 1.0 cannot carry them: EC2 refuses such values rather than store what it cannot return.
            return failure(.invalid("Value for parameter \(bad.0) contains control characters."))
        }

        let outcome: SimOutcome
        do {
            outcome = try state.withLock { state throws(SimError) in
                let outcome = try SimActions.handle(known, parameters, state: &state, requestID: requestID)
                state.pendingEvents += outcome.events
                return outcome
            }
        } catch {
            return failure(error)
        }
        deliverPendingEvents()
        let observers = actionObservers.withLock { $0 }
        if !observers.isEmpty {
            let authorization = headers.first { $0.0.lowercased() == "authorization" }?.1 ?? ""
            let key = authorization.range(of: "Credential=").map { String(authorization[$0.upperBound...].prefix { $0 != "/" }) }
            for observer in observers { observer(action, key) }
        }
        for (eni, attachment) in outcome.pendingAttachments {
            schedule(after: configuration.attachDelay) { $0.completeAttachment(eniID: eni, attachmentID: attachment) }
        }
        for (eni, attachment) in outcome.pendingDetachments {
            schedule(after: configuration.detachDelay) { $0.completeDetachment(eniID: eni, attachmentID: attachment) }
        }
        return Response(status: 200, body: outcome.xml, drop: dropResponse)
    }

    private func schedule(after delay: Duration, _ transition: @escaping @Sendable (inout SimState) -> SimEvent?) {
        let complete: @Sendable () -> Void = { [self] in
            state.withLock { s in
                if let event = transition(&s) { s.pendingEvents.append(event) }
            }
            deliverPendingEvents()
        }
        if delay == .zero {
            complete()
        } else {
            Task {
                try? await Task.sleep(for: delay)
                complete()
            }
        }
    }

    /// Hands committed events to the hooks in commit order. Events are queued inside the state's
    /// lock with the change that caused them; one deliverer at a time drains the queue, so
    /// concurrent requests cannot report their changes out of order.
    private func deliverPendingEvents() {
        delivery.withLock { _ in
            while true {
                let batch = state.withLock { s in
                    defer { s.pendingEvents.removeAll() }
                    return s.pendingEvents
                }
                if batch.isEmpty { return }
                let hooks = self.hooks.withLock { $0 }
                for event in batch { for hook in hooks { hook(event) } }
            }
        }
    }

    static func hasControlCharacters(_ value: String) -> Bool {
        value.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" && $0 != "\n" && $0 != "\r" }
    }

    // MARK: Inspection (tests, the simulated cluster)

    /// Every ENI, in creation order.
    public var networkInterfaces: [SimENI] { state.withLock { $0.enis.inOrder } }

    /// A subnet's CIDR block (nil: no such subnet): subnets may be created while a cluster runs.
    public func subnetCIDR(_ id: String) -> IPv4CIDR? { state.withLock { $0.subnets[id]?.cidr } }

    /// Every security group rule and the groups of every ENI, as the VPC enforces them now.
    public var securityView: SimSecurityView {
        state.withLock { s in
            SimSecurityView(rules: s.groupRules.values.sorted { $0.id < $1.id },
                            groupsByENI: Dictionary(uniqueKeysWithValues: s.enis.inOrder.map { ($0.id, $0.groupIDs) }))
        }
    }

    public var requestCount: Int { requestCounter.load(ordering: .relaxed) }

    /// Counts of resources, for tests and the admin endpoint.
    /// Requests received by action (throttled ones included), and the throttled ones.
    public var calls: (all: [String: Int], throttled: [String: Int]) { actionCounts.withLock { ($0.calls, $0.throttled) } }

    public var summary: [String: Int] {
        state.withLock { s in
            ["vpcs": s.vpcs.count, "subnets": s.subnets.count, "securityGroups": s.groups.count,
             "instances": s.instances.values.filter { $0.state != "terminated" }.count, "networkInterfaces": s.enis.count,
             "requests": requestCounter.load(ordering: .relaxed)]
        }
    }

    /// Checks the invariants EC2 guarantees; returns a description of each violation (empty when sound).
    public func invariantViolations() -> [String] {
        state.withLock { s in
            var problems: [String] = []
            var holder: [IPv4Address: String] = [:]
            for eni in s.enis.values {
                for address in eni.allAddresses {
                    if let other = holder.updateValue(eni.id, forKey: address) { problems.append("\(address) held by \(other) and \(eni.id)") }
                    if s.subnets[eni.subnetID]?.used.contains(address) != true { problems.append("\(address) of \(eni.id) not marked used") }
                }
                if let attachment = eni.attachment, let instance = s.instances[attachment.instanceID] {
                    if eni.slotsUsed > instance.limits.ipv4AddressesPerENI { problems.append("\(eni.id) exceeds its address limit") }
                    if instance.availabilityZone != eni.availabilityZone { problems.append("\(eni.id) attached across zones") }
                } else if eni.slotsUsed > unattachedAddressLimit {
                    problems.append("\(eni.id) exceeds the unattached address limit")
                }
            }
            var heldBySubnet: [String: Int] = [:]
            for eni in s.enis.values { heldBySubnet[eni.subnetID, default: 0] += eni.allAddresses.count }
            for subnet in s.subnets.values {
                let held = heldBySubnet[subnet.id] ?? 0
                if held != subnet.used.count { problems.append("\(subnet.id): \(subnet.used.count) marked used, \(held) held") }
                if subnet.availableCount < 0 { problems.append("\(subnet.id): negative available count") }
            }
            for instance in s.instances.values where instance.state != "terminated" {
                let attached = s.attachedENIs(instance.id)
                if attached.count > instance.limits.maxENIs { problems.append("\(instance.id) has \(attached.count) ENIs") }
                let indexes = attached.map { "\($0.attachment!.networkCardIndex)/\($0.attachment!.deviceIndex)" }
                if Set(indexes).count != indexes.count { problems.append("\(instance.id) has duplicate device indexes") }
            }
            return problems
        }
    }
}
