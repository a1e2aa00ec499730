import VPCNetCore

/// A `k8s-vpcnet.io/v1alpha1` NetworkProfile (deploy/base/networkprofile-crd.yaml,
/// docs/network-profiles.md): security groups and subnets for the pods that select it. Held whole
/// as JSON like every object here; the controller reads `spec` and writes `status`.
public struct NetworkProfile: KubeObject {
    public static let apiVersion = "k8s-vpcnet.io/v1alpha1", kind = "NetworkProfile", resource = "networkprofiles"
    public static let namespaced = false
    public var raw: JSONValue
    public init(raw: JSONValue) { self.raw = raw }

    public var generation: Int {
        if case .int(let value)? = raw.value(at: "metadata.generation") { return Int(value) }
        return 0
    }

    public var spec: JSONValue { raw["spec"] ?? .object([:]) }
    public var status: JSONValue? { raw["status"] }
}
