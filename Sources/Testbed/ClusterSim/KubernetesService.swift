import Kubernetes
import ServiceProxy
import VPCNetCore

/// The `default/kubernetes` Service the API server keeps: the first address of the service
/// CIDR, port 443 (`https`), and an EndpointSlice the API server writes itself (no selector, so
/// no controller touches it) pointing at where the API answers inside the VPC. Pods reach the API
/// through it, as in-cluster clients do.
enum KubernetesService {
    static let clusterIP = "172.20.0.1"

    static func create(_ kube: KubeClient) async throws {
        let service = Service(raw: [
            "apiVersion": "v1", "kind": "Service",
            "metadata": ["name": "kubernetes", "namespace": "default", "labels": ["component": "apiserver", "provider": "kubernetes"]],
            "spec": ["clusterIP": .string(clusterIP), "ports": [["name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443]]],
        ])
        _ = try await kube.create(service)
        let slice = EndpointSlice(raw: [
            "apiVersion": .string(EndpointSlice.apiVersion), "kind": .string(EndpointSlice.kind),
            "metadata": ["name": "kubernetes", "namespace": "default", "labels": .object([EndpointSlice.serviceNameLabel: "kubernetes"])],
            "addressType": "IPv4",
            "endpoints": [["addresses": [.string(VPCFabric.controlPlaneAddress)], "conditions": ["ready": true]]],
            "ports": [["name": "https", "port": 6443, "protocol": "TCP"]],
        ])
        _ = try await kube.create(slice)
    }
}
