import Synchronization
import VPCNetCore

/// What the API server's Service registry does on every write of a Service: the defaults of
/// `SetDefaults_Service`, the checks of `ValidateService` users meet, and the allocation of cluster
/// IPs (from the service CIDR) and node ports, which stay with a Service until it is deleted.
///
/// Allocations are kept here, by Service, as the API server keeps them in its allocator bitmaps
/// beside the objects (the store's lock cannot be taken again from inside a write).
public final class ServiceRegistry: Sendable {
    /// EKS's choice for a VPC inside 10.0.0.0/8, as the simulator's VPC is.
    public static let defaultServiceCIDR = try! IPv4CIDR(parsing: "172.20.0.0/16")
    /// `--service-node-port-range`'s default.
    public static let nodePortRange = 30000...32767

    public let serviceCIDR: IPv4CIDR
    private let allocations = Mutex<[String: Allocation]>([:])

    struct Allocation: Hashable {
        var clusterIP: IPv4Address?
        var nodePorts: Set<Int> = []
    }

    public init(serviceCIDR: IPv4CIDR = ServiceRegistry.defaultServiceCIDR) {
        self.serviceCIDR = serviceCIDR
    }

    /// Completes `service` (defaults; allocations kept from `old`, new ones made), checks it, and
    /// records what it holds under `key` unless `dryRun`. The returned closure restores the
    /// previous record, for a write that fails after admission.
    func admit(_ service: inout JSONValue, old: JSONValue?, key: String, dryRun: Bool) throws(KubeStatusError) -> @Sendable () -> Void {
        ServiceDefaults.apply(&service)
        if let old { ServiceDefaults.keepAllocated(&service, from: old) }
        var problems = ServiceValidation.problems(service, old: old, nodePortRange: Self.nodePortRange)
        let name = service.value(at: "metadata.name")?.stringValue ?? ""
        if !problems.isEmpty { throw .invalid("Service \"\(name)\" is invalid: \(problems.joined(separator: ", "))") }
        return try allocations.withLock { table throws(KubeStatusError) in
            let others = table.filter { $0.key != key }.values
            var allocation = Allocation()
            problems += allocateClusterIP(&service, used: Set(others.compactMap(\.clusterIP)), into: &allocation)
            problems += allocateNodePorts(&service, used: others.reduce(into: []) { $0.formUnion($1.nodePorts) }, into: &allocation)
            if !problems.isEmpty { throw .invalid("Service \"\(name)\" is invalid: \(problems.joined(separator: ", "))") }
            guard !dryRun else { return {} }
            let previous = table[key]
            table[key] = allocation
            return { [self] in self.allocations.withLock { $0[key] = previous } }
        }
    }

    /// Frees what a deleted Service held.
    func release(key: String) {
        _ = allocations.withLock { $0.removeValue(forKey: key) }
    }

    private func allocateClusterIP(_ service: inout JSONValue, used: Set<IPv4Address>, into allocation: inout Allocation) -> [String] {
        guard service.value(at: "spec.type")?.stringValue != "ExternalName" else { return [] }
        let requested = service.value(at: "spec.clusterIP")?.stringValue ?? ""
        if requested == "None" {
            service["spec"]?["clusterIPs"] = ["None"]
            return []
        }
        let ip: IPv4Address
        if requested.isEmpty {
            guard let free = freeClusterIP(used: used) else {
                return ["spec.clusterIPs: Internal error: failed to allocate a serviceIP: range is full"]
            }
            ip = free
        } else {
            let field = "spec.clusterIPs: Invalid value: [\"\(requested)\"]: failed to allocate IP \(requested)"
            guard let parsed = IPv4Address(requested) else { return ["spec.clusterIPs[0]: Invalid value: \"\(requested)\": must be a valid IP address"] }
            guard serviceCIDR.contains(parsed), parsed != serviceCIDR.network, parsed != serviceCIDR.broadcast else {
                return ["\(field): the provided IP (\(requested)) is not in the valid range. The range of valid IPs is \(serviceCIDR)"]
            }
            guard !used.contains(parsed) else { return ["\(field): provided IP is already allocated"] }
            ip = parsed
        }
        allocation.clusterIP = ip
        service["spec"]?["clusterIP"] = .string(ip.description)
        service["spec"]?["clusterIPs"] = [.string(ip.description)]
        return []
    }

    /// A random free address, from above the range's static band first as the API server's
    /// allocator does (the band, min(max(16, size/16), 256) addresses, is for addresses users pick).
    private func freeClusterIP(used: Set<IPv4Address>) -> IPv4Address? {
        let size = Int64(serviceCIDR.size)
        let band = min(max(16, size / 16), 256)
        for range in [band..<(size - 1), 1..<min(band, size - 1)] where !range.isEmpty {
            let start = Int64.random(in: range)
            for step in 0..<Int64(range.count) {
                let offset = range.lowerBound + (start - range.lowerBound + step) % Int64(range.count)
                if let ip = serviceCIDR.network.advanced(by: offset), !used.contains(ip) { return ip }
            }
        }
        return nil
    }

    private func allocateNodePorts(_ service: inout JSONValue, used: Set<Int>, into allocation: inout Allocation) -> [String] {
        let type = service.value(at: "spec.type")?.stringValue ?? "ClusterIP"
        guard type == "NodePort" || type == "LoadBalancer" else { return [] }
        var problems: [String] = []
        var taken = used
        var ports = service.value(at: "spec.ports")?.arrayValue ?? []
        for index in ports.indices {
            if case .int(let requested)? = ports[index]["nodePort"], requested != 0 {
                let port = Int(requested)
                if !taken.insert(port).inserted && !allocation.nodePorts.contains(port) {
                    problems.append("spec.ports[\(index)].nodePort: Invalid value: \(port): provided port is already allocated")
                }
                allocation.nodePorts.insert(port)
            }
        }
        for index in ports.indices where (ports[index]["nodePort"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? 0) == 0 {
            guard let port = freeNodePort(used: taken) else {
                problems.append("spec.ports[\(index)].nodePort: Internal error: range is full")
                continue
            }
            taken.insert(port)
            allocation.nodePorts.insert(port)
            ports[index]["nodePort"] = .int(Int64(port))
        }
        service["spec"]?["ports"] = .array(ports)
        if type == "LoadBalancer", service.value(at: "spec.externalTrafficPolicy")?.stringValue == "Local" {
            if case .int(let port)? = service.value(at: "spec.healthCheckNodePort"), port != 0 {
                allocation.nodePorts.insert(Int(port))
            } else if let port = freeNodePort(used: taken) {
                allocation.nodePorts.insert(port)
                service["spec"]?["healthCheckNodePort"] = .int(Int64(port))
            }
        }
        return problems
    }

    private func freeNodePort(used: Set<Int>) -> Int? {
        let range = Self.nodePortRange
        let start = Int.random(in: range)
        for step in 0..<range.count {
            let port = range.lowerBound + (start - range.lowerBound + step) % range.count
            if !used.contains(port) { return port }
        }
        return nil
    }
}
