/// The field numbers, JSON names and Go presence of the messages ``KubeProtobuf`` decodes, from
/// the Kubernetes API's `generated.proto` (k8s.io/api and k8s.io/apimachinery, the 1.32 line; a
/// field added later decodes too, numbers are never reused) and, for presence, its `types.go`.
/// Messages are named by their proto name; `meta.` and `core.` prefixes are dropped (no two
/// packages used here share a message name).
enum KubeProtobufSchema {
    enum FieldType: Hashable, Sendable {
        case string, int, bool, bytes, quantity, intOrString, time, microTime, fieldsV1
        case message(String)
        /// An embedded struct whose fields JSON flattens into the parent (`Volume.volumeSource`).
        case inline(String)
    }

    enum Shape: Hashable, Sendable { case single, repeated, map }

    /// How Go's encoding/json writes the field: `omitEmpty` (a value with `omitempty`: left out
    /// when zero), `always` (no `omitempty`), `pointer` (written when set, zero included).
    enum Presence: Hashable, Sendable { case omitEmpty, always, pointer }

    struct Field: Hashable, Sendable {
        var name: String
        var type: FieldType
        var shape: Shape = .single
        var presence: Presence = .omitEmpty
    }

    typealias Message = [Int: Field]

    // Builders, so each message reads as one line per field.
    static func str(_ name: String, _ presence: Presence = .omitEmpty) -> Field { Field(name: name, type: .string, presence: presence) }
    static func int(_ name: String, _ presence: Presence = .omitEmpty) -> Field { Field(name: name, type: .int, presence: presence) }
    static func bool(_ name: String, _ presence: Presence = .omitEmpty) -> Field { Field(name: name, type: .bool, presence: presence) }
    static func msg(_ name: String, _ type: String, _ presence: Presence = .omitEmpty) -> Field {
        Field(name: name, type: .message(type), presence: presence)
    }
    static func time(_ name: String, _ presence: Presence = .omitEmpty) -> Field { Field(name: name, type: .time, presence: presence) }
    static func intOrString(_ name: String, _ presence: Presence = .omitEmpty) -> Field { Field(name: name, type: .intOrString, presence: presence) }
    static func strs(_ name: String) -> Field { Field(name: name, type: .string, shape: .repeated) }
    static func ints(_ name: String) -> Field { Field(name: name, type: .int, shape: .repeated) }
    static func msgs(_ name: String, _ type: String) -> Field { Field(name: name, type: .message(type), shape: .repeated) }
    static func labels(_ name: String) -> Field { Field(name: name, type: .string, shape: .map) }
    static func quantities(_ name: String) -> Field { Field(name: name, type: .quantity, shape: .map) }
    static func inline(_ type: String) -> Field { Field(name: "", type: .inline(type)) }

    /// Kind (from the envelope) → message.
    static let kinds: [String: String] = [
        "Namespace": "Namespace", "ConfigMap": "ConfigMap", "ServiceAccount": "ServiceAccount", "Service": "Service", "Pod": "Pod",
        "Deployment": "Deployment", "ReplicaSet": "ReplicaSet", "DaemonSet": "DaemonSet", "EndpointSlice": "EndpointSlice",
        "Scale": "Scale", "DeleteOptions": "DeleteOptions", "Role": "Role", "ClusterRole": "ClusterRole", "RoleBinding": "RoleBinding",
        "ClusterRoleBinding": "RoleBinding", "PodDisruptionBudget": "PodDisruptionBudget", "Lease": "Lease",
    ]

    static let messages: [String: Message] = meta.merging(core) { $1 }.merging(pods) { $1 }.merging(workloads) { $1 }.merging(access) { $1 }

    static let meta: [String: Message] = [
        "ObjectMeta": [1: str("name"), 2: str("generateName"), 3: str("namespace"), 4: str("selfLink"), 5: str("uid"), 6: str("resourceVersion"),
                       7: int("generation"), 8: time("creationTimestamp"), 9: time("deletionTimestamp", .pointer),
                       10: int("deletionGracePeriodSeconds", .pointer), 11: labels("labels"), 12: labels("annotations"),
                       13: msgs("ownerReferences", "OwnerReference"), 14: strs("finalizers"), 17: msgs("managedFields", "ManagedFieldsEntry")],
        "OwnerReference": [5: str("apiVersion", .always), 1: str("kind", .always), 3: str("name", .always), 4: str("uid", .always),
                           6: bool("controller", .pointer), 7: bool("blockOwnerDeletion", .pointer)],
        "LabelSelector": [1: labels("matchLabels"), 2: msgs("matchExpressions", "LabelSelectorRequirement")],
        "LabelSelectorRequirement": [1: str("key", .always), 2: str("operator", .always), 3: strs("values")],
        "ManagedFieldsEntry": [1: str("manager"), 2: str("operation"), 3: str("apiVersion"), 4: time("time", .pointer), 6: str("fieldsType"),
                               7: Field(name: "fieldsV1", type: .fieldsV1, presence: .pointer), 8: str("subresource")],
        "Condition": [1: str("type", .always), 2: str("status", .always), 3: int("observedGeneration"), 4: time("lastTransitionTime", .always),
                      5: str("reason", .always), 6: str("message", .always)],
        "DeleteOptions": [1: int("gracePeriodSeconds", .pointer), 2: msg("preconditions", "Preconditions", .pointer),
                          3: bool("orphanDependents", .pointer), 4: str("propagationPolicy", .pointer), 5: strs("dryRun"),
                          6: bool("ignoreStoreReadErrorWithClusterBreakingPotential", .pointer)],
        "Preconditions": [1: str("uid", .pointer), 2: str("resourceVersion", .pointer)],
        "Scale": [1: msg("metadata", "ObjectMeta"), 2: msg("spec", "ScaleSpec"), 3: msg("status", "ScaleStatus")],
        "ScaleSpec": [1: int("replicas")],
        "ScaleStatus": [1: int("replicas", .always), 2: str("selector")],
    ]

    static let core: [String: Message] = [
        "Namespace": [1: msg("metadata", "ObjectMeta"), 2: msg("spec", "NamespaceSpec"), 3: msg("status", "NamespaceStatus")],
        "NamespaceSpec": [1: strs("finalizers")],
        "NamespaceStatus": [1: str("phase"), 2: msgs("conditions", "NamespaceCondition")],
        "NamespaceCondition": [1: str("type", .always), 2: str("status", .always), 4: time("lastTransitionTime"), 5: str("reason"), 6: str("message")],
        "ConfigMap": [1: msg("metadata", "ObjectMeta"), 4: bool("immutable", .pointer), 2: labels("data"),
                      3: Field(name: "binaryData", type: .bytes, shape: .map)],
        "ServiceAccount": [1: msg("metadata", "ObjectMeta"), 2: msgs("secrets", "ObjectReference"), 3: msgs("imagePullSecrets", "LocalObjectReference"),
                           4: bool("automountServiceAccountToken", .pointer)],
        "ObjectReference": [1: str("kind"), 2: str("namespace"), 3: str("name"), 4: str("uid"), 5: str("apiVersion"), 6: str("resourceVersion"),
                            7: str("fieldPath")],
        "LocalObjectReference": [1: str("name")],
        "Service": [1: msg("metadata", "ObjectMeta"), 2: msg("spec", "ServiceSpec"), 3: msg("status", "ServiceStatus")],
        "ServiceSpec": [1: msgs("ports", "ServicePort"), 2: labels("selector"), 3: str("clusterIP"), 18: strs("clusterIPs"), 4: str("type"),
                        5: strs("externalIPs"), 7: str("sessionAffinity"), 8: str("loadBalancerIP"), 9: strs("loadBalancerSourceRanges"),
                        10: str("externalName"), 11: str("externalTrafficPolicy"), 12: int("healthCheckNodePort"), 13: bool("publishNotReadyAddresses"),
                        14: msg("sessionAffinityConfig", "SessionAffinityConfig", .pointer), 19: strs("ipFamilies"), 17: str("ipFamilyPolicy", .pointer),
                        20: bool("allocateLoadBalancerNodePorts", .pointer), 21: str("loadBalancerClass", .pointer),
                        22: str("internalTrafficPolicy", .pointer), 23: str("trafficDistribution", .pointer)],
        "ServicePort": [1: str("name"), 2: str("protocol"), 6: str("appProtocol", .pointer), 3: int("port", .always), 4: intOrString("targetPort"),
                        5: int("nodePort")],
        "ServiceStatus": [1: msg("loadBalancer", "LoadBalancerStatus"), 2: msgs("conditions", "Condition")],
        "LoadBalancerStatus": [1: msgs("ingress", "LoadBalancerIngress")],
        "LoadBalancerIngress": [1: str("ip"), 2: str("hostname"), 3: str("ipMode", .pointer), 4: msgs("ports", "PortStatus")],
        "PortStatus": [1: int("port", .always), 2: str("protocol", .always), 3: str("error", .pointer)],
        "SessionAffinityConfig": [1: msg("clientIP", "ClientIPConfig", .pointer)],
        "ClientIPConfig": [1: int("timeoutSeconds", .pointer)],
        "EndpointSlice": [1: msg("metadata", "ObjectMeta"), 4: str("addressType", .always), 2: msgs("endpoints", "Endpoint"), 3: msgs("ports", "EndpointPort")],
        "Endpoint": [1: strs("addresses"), 2: msg("conditions", "EndpointConditions"), 3: str("hostname", .pointer),
                     4: msg("targetRef", "ObjectReference", .pointer), 5: labels("deprecatedTopology"), 6: str("nodeName", .pointer),
                     7: str("zone", .pointer), 8: msg("hints", "EndpointHints", .pointer)],
        "EndpointConditions": [1: bool("ready", .pointer), 2: bool("serving", .pointer), 3: bool("terminating", .pointer)],
        "EndpointHints": [1: msgs("forZones", "ForZone"), 2: msgs("forNodes", "ForZone")],
        "ForZone": [1: str("name", .always)],
        "EndpointPort": [1: str("name", .pointer), 2: str("protocol", .pointer), 3: int("port", .pointer), 4: str("appProtocol", .pointer)],
    ]
}
