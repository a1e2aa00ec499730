import Kubernetes
import VPCNetCore

/// The CNI `runtimeConfig` a pod's sandbox gets, built as containerd's CRI plugin builds it
/// (`cniNamespaceOpts` in containerd 1.7's `sandbox_run.go`): `portMappings` from every container
/// port with a `hostPort` (protocol lower-cased, `hostIP` only when set), and `bandwidth` from the
/// `kubernetes.io/ingress-bandwidth` / `egress-bandwidth` annotations in bits per second, each with
/// containerd's burst of `math.MaxUint32` bits.
enum SimRuntimeConfig {
    static let ingressAnnotation = "kubernetes.io/ingress-bandwidth"
    static let egressAnnotation = "kubernetes.io/egress-bandwidth"

    /// The capability arguments as JSON, or nil when the pod asks for none.
    static func capabilityArgs(for pod: Pod) throws(CommandError) -> String? {
        var args: [String: JSONValue] = [:]
        let mappings = portMappings(pod)
        if !mappings.isEmpty { args["portMappings"] = .array(mappings) }
        var bandwidth: [String: JSONValue] = [:]
        for (annotation, direction) in [(ingressAnnotation, "ingress"), (egressAnnotation, "egress")] {
            guard let text = pod.annotations[annotation] else { continue }
            bandwidth["\(direction)Rate"] = .int(try bitsPerSecond(text, annotation: annotation))
            bandwidth["\(direction)Burst"] = .int(Int64(UInt32.max))
        }
        if !bandwidth.isEmpty { args["bandwidth"] = .object(bandwidth) }
        return args.isEmpty ? nil : JSONValue.object(args).serialized()
    }

    private static func portMappings(_ pod: Pod) -> [JSONValue] {
        let containers = (pod.raw.value(at: "spec.containers")?.arrayValue ?? []) + (pod.raw.value(at: "spec.initContainers")?.arrayValue ?? [])
        return containers.flatMap { container in
            (container["ports"]?.arrayValue ?? []).compactMap { port -> JSONValue? in
                guard case .int(let hostPort)? = port["hostPort"], hostPort > 0, case .int(let containerPort)? = port["containerPort"] else {
                    return nil
                }
                var mapping: [String: JSONValue] = ["hostPort": .int(hostPort), "containerPort": .int(containerPort),
                                                    "protocol": .string((port["protocol"]?.stringValue ?? "TCP").lowercased())]
                if let hostIP = port["hostIP"]?.stringValue, !hostIP.isEmpty { mapping["hostIP"] = .string(hostIP) }
                return .object(mapping)
            }
        }
    }

    /// A Kubernetes quantity (`10M`, `512Ki`, `1000000`) within the kubelet's bounds, 1k…1P.
    static func bitsPerSecond(_ text: String, annotation: String) throws(CommandError) -> Int64 {
        let suffixes: [(String, Double)] = [("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40), ("Pi", 0x1p50),
                                            ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)]
        let (digits, scale) = suffixes.first { text.hasSuffix($0.0) }.map { (String(text.dropLast($0.0.count)), $0.1) } ?? (text, 1)
        guard let number = Double(digits), number.isFinite, (1e3...1e15).contains(number * scale) else {
            throw CommandError(command: "runtimeConfig", status: "invalid annotation",
                               output: "\(annotation)=\(text) is not a quantity between 1k and 1P bits per second")
        }
        return Int64(number * scale)
    }
}
