import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import ServiceProxy
import VPCNetCore

/// The endpoint-slice controller of the simulated control plane: every Service with a selector
/// gets EndpointSlices listing the pods it selects — address, readiness, node, zone, and each
/// Service port resolved against the pod's container ports — kept in step as pods come, go and
/// change. Level-triggered: each pass compares what the caches hold with what they should.
public final class EndpointSliceController: Sendable {
    let kube: KubeClient
    let services: Informer<Service>
    let slices: Informer<EndpointSlice>
    let pods: Informer<Pod>
    let nodes: Informer<Node>
    let logger: Logger

    public init(kube: KubeClient, services: Informer<Service>, slices: Informer<EndpointSlice>, pods: Informer<Pod>, nodes: Informer<Node>,
                logger: Logger) {
        self.kube = kube
        self.services = services
        self.slices = slices
        self.pods = pods
        self.nodes = nodes
        self.logger = logger
    }

    public func run() async {
        await ControlLoop.run(after: [services.waitForSync, slices.waitForSync, pods.waitForSync, nodes.waitForSync]) { await syncAll() }
    }

    func syncAll() async {
        let zones = Dictionary(nodes.list().map { ($0.name, $0.labels["topology.kubernetes.io/zone"] ?? "") }, uniquingKeysWith: { first, _ in first })
        let allPods = pods.list()
        var owned: [String: [EndpointSlice]] = [:]
        for slice in slices.list() where slice.labels[EndpointSlice.managedByLabel] == EndpointSlice.controllerName {
            owned["\(slice.namespace ?? "")/\(slice.serviceName ?? "")", default: []].append(slice)
        }
        var live: Set<String> = []
        for service in services.list() where service.selector != nil {
            let key = "\(service.namespace ?? "")/\(service.name)"
            live.insert(key)
            let plan = EndpointSlicePlan(desired: EndpointSlicePlan.desired(for: service, pods: allPods, zones: zones), existing: owned[key] ?? [])
            await apply(plan, for: service)
        }
        // What the garbage collector does for a deleted Service's slices (they name it their owner).
        for (key, orphans) in owned where !live.contains(key) {
            for slice in orphans { await delete(slice) }
        }
    }

    private func apply(_ plan: EndpointSlicePlan, for service: Service) async {
        for (slice, content) in plan.updates {
            var updated = slice
            updated.raw["endpoints"] = content["endpoints"]
            updated.raw["ports"] = content["ports"]
            do { _ = try await kube.replace(updated) } catch { logger.debug("cannot update an EndpointSlice", metadata: ["slice": "\(slice.name)", "error": "\(error)"]) }
        }
        for content in plan.creations {
            var slice = EndpointSlice(raw: content)
            slice.raw["apiVersion"] = .string(EndpointSlice.apiVersion)
            slice.raw["kind"] = .string(EndpointSlice.kind)
            slice.raw["metadata"] = [
                "generateName": .string("\(service.name)-"), "namespace": .string(service.namespace ?? "default"),
                "labels": .object([EndpointSlice.serviceNameLabel: .string(service.name), EndpointSlice.managedByLabel: .string(EndpointSlice.controllerName)]),
                "ownerReferences": [["apiVersion": "v1", "kind": "Service", "name": .string(service.name), "uid": .string(service.uid ?? ""),
                                     "controller": true, "blockOwnerDeletion": true]],
            ]
            do { _ = try await kube.create(slice) } catch { logger.debug("cannot create an EndpointSlice", metadata: ["service": "\(service.name)", "error": "\(error)"]) }
        }
        for slice in plan.deletions { await delete(slice) }
    }

    private func delete(_ slice: EndpointSlice) async {
        do { try await kube.delete(EndpointSlice.self, namespace: slice.namespace, name: slice.name, uid: slice.uid) } catch {
            logger.debug("cannot delete an EndpointSlice", metadata: ["slice": "\(slice.name)", "error": "\(error)"])
        }
    }
}

/// What one Service's slices should hold against what they hold (pure: unit-tested).
struct EndpointSlicePlan {
    /// Endpoints per slice, as the controller's `--max-endpoints-per-slice` default.
    static let maxEndpointsPerSlice = 100

    var updates: [(EndpointSlice, JSONValue)] = []
    var creations: [JSONValue] = []
    var deletions: [EndpointSlice] = []

    /// Existing slices are reused for slices with the same ports; only those whose endpoints
    /// differ are written.
    init(desired: [JSONValue], existing: [EndpointSlice]) {
        var unused = existing
        for content in desired {
            if let index = unused.firstIndex(where: { Self.sameEndpoints($0.raw, content) }) {
                unused.remove(at: index)
            } else if let index = unused.firstIndex(where: { Self.portSet($0.raw) == Self.portSet(content) }) {
                updates.append((unused.remove(at: index), content))
            } else if let index = unused.indices.first {
                updates.append((unused.remove(at: index), content))
            } else {
                creations.append(content)
            }
        }
        deletions = unused
    }

    static func portSet(_ slice: JSONValue) -> Set<JSONValue> { Set(slice["ports"]?.arrayValue ?? []) }
    static func sameEndpoints(_ slice: JSONValue, _ content: JSONValue) -> Bool {
        portSet(slice) == portSet(content) && Set(slice["endpoints"]?.arrayValue ?? []) == Set(content["endpoints"]?.arrayValue ?? [])
    }

    /// The slices' contents (`addressType`, `ports`, `endpoints`) for the pods the Service
    /// selects: pods with an address that have not finished, grouped by how the Service's ports
    /// resolve on them (a named target port can be a different number in each pod).
    static func desired(for service: Service, pods: [Pod], zones: [String: String]) -> [JSONValue] {
        guard let selector = service.selector else { return [] }
        var groups: [[JSONValue]: [JSONValue]] = [:]
        let selected = pods.filter { pod in
            pod.namespace == service.namespace && selector.allSatisfy { pod.labels[$0.key] == $0.value }
                && pod.podIP != nil && !["Succeeded", "Failed"].contains(pod.phase ?? "")
        }
        for pod in selected.sorted(by: { $0.name < $1.name }) {
            let ports = service.ports.compactMap { port -> JSONValue? in
                guard let number = resolve(port, in: pod) else { return nil }
                return ["name": .string(port.name), "protocol": .string(port.protocol), "port": .int(Int64(number))]
            }
            groups[ports, default: []].append(endpoint(for: pod, zones: zones))
        }
        return groups.sorted { $0.key.map { $0.serialized() }.joined() < $1.key.map { $0.serialized() }.joined() }.flatMap { ports, endpoints in
            stride(from: 0, to: endpoints.count, by: maxEndpointsPerSlice).map { start in
                ["addressType": "IPv4", "ports": .array(ports),
                 "endpoints": .array(Array(endpoints[start..<min(start + maxEndpointsPerSlice, endpoints.count)]))]
            }
        }
    }

    /// The target port's number on this pod: the number itself, or the container port of that name and protocol.
    static func resolve(_ port: Service.Port, in pod: Pod) -> Int? {
        switch port.targetPort {
        case .int(let number): return Int(number)
        case .string(let name):
            for container in pod.raw.value(at: "spec.containers")?.arrayValue ?? [] {
                for declared in container["ports"]?.arrayValue ?? []
                where declared["name"]?.stringValue == name && (declared["protocol"]?.stringValue ?? "TCP") == port.protocol {
                    if case .int(let number)? = declared["containerPort"] { return Int(number) }
                }
            }
            return nil
        default: return nil
        }
    }

    static func endpoint(for pod: Pod, zones: [String: String]) -> JSONValue {
        let podReady = pod.isReady
        let terminating = pod.deletionTimestamp != nil
        var endpoint: JSONValue = [
            "addresses": [.string(pod.podIP ?? "")],
            "conditions": ["ready": .bool(podReady && !terminating), "serving": .bool(podReady), "terminating": .bool(terminating)],
            "targetRef": ["kind": "Pod", "namespace": .string(pod.namespace ?? "default"), "name": .string(pod.name), "uid": .string(pod.uid ?? "")],
        ]
        if let node = pod.nodeName {
            endpoint["nodeName"] = .string(node)
            if let zone = zones[node], !zone.isEmpty { endpoint["zone"] = .string(zone) }
        }
        return endpoint
    }
}
