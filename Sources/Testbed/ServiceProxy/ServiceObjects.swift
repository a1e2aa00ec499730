import Kubernetes
import VPCNetCore

// The kinds a service proxy reads. They live with the testbed: no vpcnet component reads them.

/// A `v1` Service: what the endpoint-slice controller and the service proxy read.
public struct Service: KubeObject {
    public static let apiVersion = "v1", kind = "Service", resource = "services"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public struct Port: Sendable, Hashable {
        public var name: String
        public var `protocol`: String
        public var port: Int
        /// A number, or the name of a container port.
        public var targetPort: JSONValue
        public var nodePort: Int?
    }

    public var type: String { raw.value(at: "spec.type")?.stringValue ?? "ClusterIP" }
    public var clusterIP: String? {
        guard let ip = raw.value(at: "spec.clusterIP")?.stringValue, !ip.isEmpty, ip != "None" else { return nil }
        return ip
    }
    public var selector: [String: String]? { raw.value(at: "spec.selector")?.objectValue?.compactMapValues(\.stringValue) }
    public var externalTrafficPolicyLocal: Bool { raw.value(at: "spec.externalTrafficPolicy")?.stringValue == "Local" }
    public var internalTrafficPolicyLocal: Bool { raw.value(at: "spec.internalTrafficPolicy")?.stringValue == "Local" }
    public var externalIPs: [String] { (raw.value(at: "spec.externalIPs")?.arrayValue ?? []).compactMap(\.stringValue) }
    /// `apiservice.ExternallyAccessible`: a NodePort or LoadBalancer, or a Service with external IPs.
    public var externallyAccessible: Bool { ["NodePort", "LoadBalancer"].contains(type) || (type == "ClusterIP" && !externalIPs.isEmpty) }

    public var ports: [Port] {
        (raw.value(at: "spec.ports")?.arrayValue ?? []).compactMap { port in
            guard case .int(let number)? = port["port"] else { return nil }
            var nodePort: Int?
            if case .int(let value)? = port["nodePort"], value != 0 { nodePort = Int(value) }
            return Port(name: port["name"]?.stringValue ?? "", protocol: port["protocol"]?.stringValue ?? "TCP", port: Int(number),
                        targetPort: port["targetPort"] ?? .int(number), nodePort: nodePort)
        }
    }
}

/// A `discovery.k8s.io/v1` EndpointSlice.
public struct EndpointSlice: KubeObject {
    public static let apiVersion = "discovery.k8s.io/v1", kind = "EndpointSlice", resource = "endpointslices"
    public static let namespaced = true
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let controllerName = "endpointslice-controller.k8s.io"

    public var serviceName: String? { labels[Self.serviceNameLabel] }

    public struct Endpoint: Sendable, Hashable {
        public var address: String
        public var ready: Bool
        public var serving: Bool
        public var terminating: Bool
        public var nodeName: String?
        public var zone: String?
    }

    public var endpoints: [Endpoint] {
        (raw["endpoints"]?.arrayValue ?? []).compactMap { endpoint in
            guard let address = endpoint["addresses"]?.arrayValue?.first?.stringValue else { return nil }
            let conditions = endpoint["conditions"] ?? [:]
            // nil `ready` means ready, as the API documents; `serving` defaults to `ready`.
            let ready = conditions["ready"] != .bool(false)
            return Endpoint(address: address, ready: ready, serving: conditions["serving"].map { $0 != .bool(false) } ?? ready,
                            terminating: conditions["terminating"] == .bool(true), nodeName: endpoint["nodeName"]?.stringValue,
                            zone: endpoint["zone"]?.stringValue)
        }
    }

    /// Port name → (protocol, number).
    public var ports: [String: (protocol: String, port: Int)] {
        var result: [String: (protocol: String, port: Int)] = [:]
        for port in raw["ports"]?.arrayValue ?? [] {
            guard case .int(let number)? = port["port"] else { continue }
            result[port["name"]?.stringValue ?? ""] = (port["protocol"]?.stringValue ?? "TCP", Int(number))
        }
        return result
    }
}
