import GRPCCore
import IPAM
import IPAMGRPC
import IPAMProto
import Metrics
import VPCNetContracts
import VPCNetCore

/// Told when an ADD fails for lack of addresses (the no-free-ips taint, the optional reschedule).
public protocol ExhaustionObserver: Sendable {
    func addFailedForLackOfAddresses(pod: PodReference) async
}

/// `vpcnet.ipam.v1.IPAM` over the ``AddressManager``: the service the CNI plugin calls.
///
/// Metrics: `vpcnet_ipam_requests_total{operation, result}` and
/// `vpcnet_ipam_allocation_duration_seconds` (an ADD's time in the daemon, the state file's fsync
/// included).
public struct IPAMService: Vpcnet_Ipam_V1_IPAM.SimpleServiceProtocol {
    let manager: AddressManager
    let observer: (any ExhaustionObserver)?
    /// Where a pod's NetworkProfile is learned; nil: every pod gets the node's own addresses.
    let profiles: (any PodProfileSource)?

    public init(manager: AddressManager, observer: (any ExhaustionObserver)?, profiles: (any PodProfileSource)? = nil) {
        self.manager = manager
        self.observer = observer
        self.profiles = profiles
    }

    public func add(request: Vpcnet_Ipam_V1_AddRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_AddResponse {
        let key = try Self.key(request.attachment)
        let pod = PodReference(namespace: request.pod.namespace, name: request.pod.name, uid: request.pod.uid)
        let hostPorts = try Self.hostPorts(request.hostPorts)
        let started = ContinuousClock.now
        var profile: String?
        if let profiles, !pod.namespace.isEmpty, !pod.name.isEmpty {
            do {
                profile = try await profiles.profile(of: pod)
            } catch {
                Self.count("add", "pod_unknown")
                throw RPCError(code: .unavailable, message: "cannot learn the network profile of pod \(pod.namespace)/\(pod.name): \(error)")
            }
        }
        do {
            let (allocation, source) = try await manager.add(key, pod: pod, hostPorts: hostPorts, profile: profile)
            Metrics.Timer(label: "vpcnet_ipam_allocation_duration_seconds", preferredDisplayUnit: .seconds).record(duration: ContinuousClock.now - started)
            Self.count("add", "ok")
            return .with {
                $0.address = allocation.address.description
                $0.prefixLength = UInt32(source.prefixLength)
                $0.gateway = source.gateway.description
                $0.eniID = source.eniID.description
            }
        } catch let error as PoolError {
            switch error {
            case .exhausted:
                Self.count("add", "no_free_address")
                await observer?.addFailedForLackOfAddresses(pod: pod)
                throw RPCError(code: .resourceExhausted, message: error.description)
            case .notConfigured:
                Self.count("add", "not_configured")
                throw RPCError(code: .unavailable, message: error.description)
            case .hostPortTaken:
                Self.count("add", "host_port_taken")
                throw RPCError(code: .alreadyExists, message: error.description)
            case .profileNotOnNode:
                Self.count("add", "profile_not_on_node")
                profiles?.refused(pod, reason: "NetworkProfileNotOnNode", message: error.description)
                throw RPCError(code: .failedPrecondition, message: error.description)
            case .profileExhausted:
                Self.count("add", "no_free_profile_address")
                profiles?.refused(pod, reason: "NoFreeProfileAddress", message: error.description)
                throw RPCError(code: .resourceExhausted, message: error.description)
            }
        } catch {
            Self.count("add", "error")
            throw RPCError(code: .internalError, message: "cannot record the allocation: \(error)")
        }
    }

    public func del(request: Vpcnet_Ipam_V1_DelRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_DelResponse {
        let key = try Self.key(request.attachment)
        do {
            let released = try await manager.release(key)
            Self.count("del", released == nil ? "not_held" : "ok")
            return .with { $0.releasedAddress = released?.address.description ?? "" }
        } catch {
            Self.count("del", "error")
            throw RPCError(code: .internalError, message: "cannot record the release: \(error)")
        }
    }

    public func check(request: Vpcnet_Ipam_V1_CheckRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_CheckResponse {
        let key = try Self.key(request.attachment)
        guard let allocation = await manager.allocation(for: key) else {
            Self.count("check", "not_found")
            throw RPCError(code: .notFound, message: "\(key) holds no address")
        }
        if !request.address.isEmpty, request.address != allocation.address.description {
            Self.count("check", "mismatch")
            throw RPCError(code: .notFound, message: "\(key) holds \(allocation.address), not \(request.address)")
        }
        Self.count("check", "ok")
        return .with { $0.address = allocation.address.description }
    }

    public func gc(request: Vpcnet_Ipam_V1_GCRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_GCResponse {
        guard !request.network.isEmpty else { throw RPCError(code: .invalidArgument, message: "network is required") }
        let valid = Set(try request.validAttachments.map(Self.key))
        do {
            let released = try await manager.collect(network: request.network, valid: valid)
            return .with { $0.releasedAddresses = released.map(\.address.description) }
        } catch {
            throw RPCError(code: .internalError, message: "cannot record the releases: \(error)")
        }
    }

    public func status(request: Vpcnet_Ipam_V1_StatusRequest, context: ServerContext) async throws -> Vpcnet_Ipam_V1_StatusResponse {
        let status = await manager.status
        let allocations = await manager.allocations
        return .with {
            $0.configured = status.configured
            $0.total = UInt32(status.total)
            $0.allocated = UInt32(status.allocated)
            $0.free = UInt32(status.free)
            $0.coolingDown = UInt32(status.coolingDown)
            $0.allocations = allocations.map { allocation in
                .with {
                    $0.attachment = .with {
                        $0.network = allocation.key.network
                        $0.containerID = allocation.key.containerID
                        $0.interface = allocation.key.interface
                    }
                    $0.pod = .with {
                        $0.namespace = allocation.pod.namespace
                        $0.name = allocation.pod.name
                        $0.uid = allocation.pod.uid
                    }
                    $0.address = allocation.address.description
                    $0.allocatedUnixSeconds = allocation.allocatedAt / 1000
                    $0.hostPorts = allocation.hostPorts.map { port in
                        .with {
                            $0.port = UInt32(port.port)
                            $0.protocol = port.protocol
                            $0.hostIp = port.hostIP
                        }
                    }
                }
            }
        }
    }

    static func count(_ operation: String, _ result: String) {
        Counter(label: "vpcnet_ipam_requests_total", dimensions: [("operation", operation), ("result", result)]).increment()
    }

    /// The request's host ports, checked: a port in 1…65535, a protocol, an IPv4 host address or none.
    static func hostPorts(_ ports: [Vpcnet_Ipam_V1_HostPort]) throws -> [HostPort] {
        try ports.map { port in
            let proto = port.protocol.lowercased()
            guard (1...65_535).contains(port.port), ["tcp", "udp", "sctp"].contains(proto),
                  port.hostIp.isEmpty || IPv4Address(port.hostIp) != nil else {
                throw RPCError(code: .invalidArgument, message: "invalid host port \(port.hostIp.isEmpty ? "" : port.hostIp + ":")\(port.port)/\(port.protocol)")
            }
            return HostPort(port: Int(port.port), protocol: proto, hostIP: port.hostIp)
        }
    }

    static func key(_ attachment: Vpcnet_Ipam_V1_Attachment) throws -> AttachmentKey {
        for (name, value) in [("network", attachment.network), ("container_id", attachment.containerID), ("interface", attachment.interface)]
        where value.isEmpty {
            throw RPCError(code: .invalidArgument, message: "attachment.\(name) is required")
        }
        return AttachmentKey(network: attachment.network, containerID: attachment.containerID, interface: attachment.interface)
    }
}

/// `grpc.health.v1.Health`: SERVING once the node's addresses are configured, for the kubelet's
/// probes and for the node agent (which writes the CNI configuration only then).
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let manager: AddressManager
    static let services: Set<String> = ["", "vpcnet.ipam.v1.IPAM"]

    public init(manager: AddressManager) { self.manager = manager }

    func current() async -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        await manager.status.configured ? .serving : .notServing
    }

    public func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else { throw RPCError(code: .notFound, message: "unknown service \(request.service)") }
        let status = await current()
        return .with { $0.status = status }
    }

    public func watch(request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
                      context: ServerContext) async throws {
        guard Self.services.contains(request.service) else {
            try await response.write(.with { $0.status = .serviceUnknown })
            return
        }
        var last: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
        while !Task.isCancelled {
            let status = await current()
            if status != last {
                try await response.write(.with { $0.status = status })
                last = status
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
