import Kubernetes
import VPCNetCore

/// One port of one Service with its endpoints, as kube-proxy's service and endpoint-slice caches
/// hold it (`servicePortInfo`, `endpointInfo`): what ``KubeProxyRules`` renders.
public struct ServicePortInfo: Sendable, Hashable {
    /// `namespace/name:port`, or `namespace/name` for an unnamed port (`ServicePortName.String()`).
    public var name: String
    /// Lower case, as kube-proxy writes it: `tcp`, `udp`, `sctp`.
    public var `protocol`: String
    public var clusterIP: String
    public var port: Int
    public var nodePort: Int?
    public var healthCheckNodePort: Int?
    public var externalIPs: [String]
    public var externalPolicyLocal: Bool
    public var internalPolicyLocal: Bool
    /// `sessionAffinityConfig.clientIP.timeoutSeconds` when the affinity is `ClientIP`.
    public var stickyMaxAgeSeconds: Int?
    /// Sorted by `ip:port`, as kube-proxy sorts them.
    public var endpoints: [Endpoint]

    public struct Endpoint: Sendable, Hashable {
        public var ip: String
        public var port: Int
        public var ready: Bool
        public var serving: Bool
        public var terminating: Bool
        /// On the node the proxy runs on.
        public var isLocal: Bool
        /// `ip:port`: what names its chain and orders the list.
        public var description: String { "\(ip):\(port)" }

        public init(ip: String, port: Int, ready: Bool = true, serving: Bool = true, terminating: Bool = false, isLocal: Bool = false) {
            self.ip = ip
            self.port = port
            self.ready = ready
            self.serving = serving
            self.terminating = terminating
            self.isLocal = isLocal
        }
    }

    public init(name: String, protocol: String, clusterIP: String, port: Int, nodePort: Int? = nil, healthCheckNodePort: Int? = nil,
                externalIPs: [String] = [], externalPolicyLocal: Bool = false, internalPolicyLocal: Bool = false,
                stickyMaxAgeSeconds: Int? = nil, endpoints: [Endpoint] = []) {
        self.name = name
        self.protocol = `protocol`
        self.clusterIP = clusterIP
        self.port = port
        self.nodePort = nodePort
        self.healthCheckNodePort = healthCheckNodePort
        self.externalIPs = externalIPs
        self.externalPolicyLocal = externalPolicyLocal
        self.internalPolicyLocal = internalPolicyLocal
        self.stickyMaxAgeSeconds = stickyMaxAgeSeconds
        self.endpoints = endpoints.sorted { $0.description < $1.description }
    }

    /// NodePort, external IPs (no load balancers in the simulator).
    var externallyAccessible: Bool { nodePort != nil || !externalIPs.isEmpty }
    var usesClusterEndpoints: Bool { !internalPolicyLocal || externallyAccessible }
    var usesLocalEndpoints: Bool { internalPolicyLocal || (externalPolicyLocal && externallyAccessible) }

    /// The ports of every Service with a cluster IP, with the endpoints their slices list, as seen
    /// from node `nodeName`. Headless and ExternalName Services have no rules, as in kube-proxy.
    public static func from(services: [Service], slices: [EndpointSlice], nodeName: String) -> [ServicePortInfo] {
        var slicesByService: [String: [EndpointSlice]] = [:]
        for slice in slices {
            guard let service = slice.serviceName, slice.raw["addressType"]?.stringValue ?? "IPv4" == "IPv4" else { continue }
            slicesByService["\(slice.namespace ?? "")/\(service)", default: []].append(slice)
        }
        var result: [ServicePortInfo] = []
        for service in services {
            guard let clusterIP = service.clusterIP, service.type != "ExternalName" else { continue }
            let key = "\(service.namespace ?? "")/\(service.name)"
            var sticky: Int?
            if service.raw.value(at: "spec.sessionAffinity")?.stringValue == "ClientIP" {
                if case .int(let seconds)? = service.raw.value(at: "spec.sessionAffinityConfig.clientIP.timeoutSeconds") { sticky = Int(seconds) } else { sticky = 10800 }
            }
            var healthCheck: Int?
            if case .int(let port)? = service.raw.value(at: "spec.healthCheckNodePort"), port != 0 { healthCheck = Int(port) }
            for port in service.ports {
                var endpoints: [String: Endpoint] = [:]
                for slice in slicesByService[key] ?? [] {
                    guard let sliced = slice.ports[port.name], sliced.protocol == port.protocol else { continue }
                    for endpoint in slice.endpoints {
                        let entry = Endpoint(ip: endpoint.address, port: sliced.port, ready: endpoint.ready, serving: endpoint.serving,
                                             terminating: endpoint.terminating, isLocal: endpoint.nodeName == nodeName)
                        endpoints[entry.description] = entry
                    }
                }
                result.append(ServicePortInfo(
                    name: port.name.isEmpty ? key : "\(key):\(port.name)", protocol: port.protocol.lowercased(), clusterIP: clusterIP, port: port.port,
                    nodePort: port.nodePort, healthCheckNodePort: service.type == "LoadBalancer" ? healthCheck : nil, externalIPs: service.externalIPs,
                    externalPolicyLocal: service.externalTrafficPolicyLocal && service.externallyAccessible,
                    internalPolicyLocal: service.internalTrafficPolicyLocal, stickyMaxAgeSeconds: sticky, endpoints: Array(endpoints.values)))
            }
        }
        return result.sorted { ($0.name, $0.protocol) < ($1.name, $1.protocol) }
    }

    /// `proxy.CategorizeEndpoints` without topology hints (the simulator's slices carry none):
    /// the endpoints of the cluster and local policies, those that get a chain, and whether the
    /// Service has a usable endpoint anywhere.
    func categorized() -> (cluster: [Endpoint], local: [Endpoint], reachable: [Endpoint], hasAny: Bool) {
        var cluster: [Endpoint] = [], local: [Endpoint] = [], hasAny = false, servingTerminatingLocal = false
        if usesClusterEndpoints {
            cluster = endpoints.filter(\.ready)
            if cluster.isEmpty { cluster = endpoints.filter { $0.serving && $0.terminating } }
            hasAny = !cluster.isEmpty
        }
        guard usesLocalEndpoints else { return (cluster, local, cluster, hasAny) }
        var localReady = false, localServingTerminating = false
        for endpoint in endpoints {
            if endpoint.ready {
                hasAny = true
                localReady = localReady || endpoint.isLocal
            } else if endpoint.serving && endpoint.terminating {
                hasAny = true
                localServingTerminating = localServingTerminating || endpoint.isLocal
            }
        }
        if localReady {
            local = endpoints.filter { $0.isLocal && $0.ready }
        } else if localServingTerminating {
            servingTerminatingLocal = true
            local = endpoints.filter { $0.isLocal && $0.serving && $0.terminating }
        }
        guard usesClusterEndpoints else { return (cluster, local, local, hasAny) }
        guard servingTerminatingLocal else { return (cluster, local, cluster, hasAny) }
        var merged: [String: Endpoint] = [:]
        for endpoint in cluster + local { merged[endpoint.description] = endpoint }
        return (cluster, local, merged.values.sorted { $0.description < $1.description }, hasAny)
    }
}
