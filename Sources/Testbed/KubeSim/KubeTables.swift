import Foundation
import VPCNetCore

/// Server-side printing: a `meta.k8s.io/v1` `Table` for a list or an object, when the client
/// asks for one (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, as `kubectl get`
/// does), with the columns the API server's printers (`pkg/printers/internalversion`) give each
/// kind; kinds without a printer get the default `Name`, `Created At`. Wide columns have priority 1.
enum KubeTables {
    struct Column {
        var name: String
        var type = "string"
        var format = ""
        var priority = 0
        var cell: @Sendable (JSONValue, Date) -> JSONValue
    }

    static func wantsTable(_ accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").first.map { $0.contains("as=Table") && $0.contains("g=meta.k8s.io") } ?? false
    }

    /// A get's, list's or watch's answer as tables; any other answer (errors included) as it is.
    /// A custom resource's columns are its definition's (`custom`).
    static func asTable(_ reply: KubeAPI.Reply, request: ResourceRequest, includeObject: String?, custom: CustomResource? = nil) -> KubeAPI.Reply {
        guard request.subresource == nil else { return reply }
        let columns = custom.map(columns(of:)) ?? columns(of: request.resource)
        if request.verb == .watch, case .watch(let events, let timeout) = reply {
            return .watch(tables(of: events, columns: columns, includeObject: includeObject), timeout: timeout)
        }
        guard [.get, .list].contains(request.verb), case .object(200, let object) = reply else { return reply }
        let objects = request.verb == .list ? object["items"]?.arrayValue ?? [] : [object]
        let metadata: JSONValue = request.verb == .list ? object["metadata"] ?? [:] : ["resourceVersion": object.value(at: "metadata.resourceVersion") ?? ""]
        return .object(status: 200, table(columns: columns, objects: objects, listMetadata: metadata, includeObject: includeObject))
    }

    static func columns(of resource: String) -> [Column] { [name] + (printers[resource] ?? [createdAt]) }

    /// A definition's `additionalPrinterColumns` (`Age` alone when it has none), each cell the
    /// value at its JSONPath (empty when absent), dates shown as ages as kubectl shows them.
    static func columns(of custom: CustomResource) -> [Column] {
        guard !custom.printerColumns.isEmpty else { return [name, age] }
        return [name] + custom.printerColumns.map { definition in
            let type = definition["type"]?.stringValue ?? "string"
            let path = JSONPath(definition["jsonPath"]?.stringValue ?? "")
            var priority = 0
            if case .int(let value)? = definition["priority"] { priority = Int(value) }
            return Column(name: definition["name"]?.stringValue ?? "", type: type, format: definition["format"]?.stringValue ?? "", priority: priority) { object, now in
                guard let value = path?.value(in: object), value != .null else { return type == "date" ? "<unknown>" : .null }
                if type == "date", case .string(let stamp) = value {
                    return .string(humanAge(["metadata": ["creationTimestamp": .string(stamp)]], now))
                }
                if type == "string", value.stringValue == nil { return .string(value.serialized()) }
                return value
            }
        }
    }

    /// The table of `objects` (one for a get, the items for a list), their metadata as
    /// `includeObject` asks (`PartialObjectMetadata` by default, `Object`, or `None`).
    static func table(resource: String, objects: [JSONValue], listMetadata: JSONValue, includeObject: String?, now: Date = Date()) -> JSONValue {
        table(columns: columns(of: resource), objects: objects, listMetadata: listMetadata, includeObject: includeObject, now: now)
    }

    static func table(columns: [Column], objects: [JSONValue], listMetadata: JSONValue, includeObject: String?, now: Date = Date()) -> JSONValue {
        let rows: [JSONValue] = objects.map { object in
            var row: JSONValue = ["cells": .array(columns.map { $0.cell(object, now) })]
            switch includeObject ?? "PartialObjectMetadata" {
            case "None": break
            case "Object": row["object"] = object
            default: row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
            }
            return row
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMetadata,
                "columnDefinitions": .array(columns.map { ["name": .string($0.name), "type": .string($0.type), "format": .string($0.format),
                                                           "description": "", "priority": .int(Int64($0.priority))] }),
                "rows": .array(rows)]
    }

    /// A watch's events as the API server sends them to a client that asked for tables: each
    /// object a one-row Table, the column definitions in the first only.
    static func tables(of events: AsyncStream<WatchEvent>, columns: [Column], includeObject: String?) -> AsyncStream<WatchEvent> {
        let (stream, continuation) = AsyncStream<WatchEvent>.makeStream()
        let task = Task {
            var first = true
            for await event in events {
                var converted = event
                if event.kind != .bookmark && event.kind != .error {
                    converted.object = table(columns: columns, objects: [event.object],
                                             listMetadata: ["resourceVersion": event.object.value(at: "metadata.resourceVersion") ?? ""],
                                             includeObject: includeObject)
                    if !first { converted.object["columnDefinitions"] = [] }
                    first = false
                }
                continuation.yield(converted)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Columns

    static let name = Column(name: "Name", format: "name") { object, _ in object.value(at: "metadata.name") ?? "" }
    static let age = Column(name: "Age") { object, now in .string(humanAge(object, now)) }
    static let createdAt = Column(name: "Created At", format: "date") { object, _ in object.value(at: "metadata.creationTimestamp") ?? "" }

    static func text(_ name: String, priority: Int = 0, _ cell: @escaping @Sendable (JSONValue) -> String) -> Column {
        Column(name: name, priority: priority) { object, _ in .string(cell(object)) }
    }

    static func count(_ name: String, _ path: String) -> Column {
        Column(name: name, type: "integer") { object, _ in .int(int(object, path)) }
    }

    static func int(_ object: JSONValue, _ path: String) -> Int64 {
        if case .int(let value)? = object.value(at: path) { return value }
        return 0
    }

    static let containers = text("Containers", priority: 1) { object in
        (object.value(at: "spec.template.spec.containers")?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }.joined(separator: ",")
    }
    static let images = text("Images", priority: 1) { object in
        (object.value(at: "spec.template.spec.containers")?.arrayValue ?? []).compactMap { $0["image"]?.stringValue }.joined(separator: ",")
    }
    static let selector = text("Selector", priority: 1) { object in
        let labels = object.value(at: "spec.selector.matchLabels")?.objectValue ?? object.value(at: "spec.selector")?.objectValue ?? [:]
        let text = labels.sorted { $0.key < $1.key }.compactMap { key, value in value.stringValue.map { "\(key)=\($0)" } }.joined(separator: ",")
        return text.isEmpty ? "<none>" : text
    }

    static let printers: [String: [Column]] = [
        "pods": [
            text("Ready") { pod in
                let total = pod.value(at: "spec.containers")?.arrayValue?.count ?? 0
                let ready = (pod.value(at: "status.conditions")?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
                return "\(ready ? total : 0)/\(total)"
            },
            text("Status") { pod in
                if pod.value(at: "metadata.deletionTimestamp") != nil { return "Terminating" }
                return pod.value(at: "status.reason")?.stringValue ?? pod.value(at: "status.phase")?.stringValue ?? "Pending"
            },
            Column(name: "Restarts", type: "string") { _, _ in "0" },
            age,
            text("IP", priority: 1) { $0.value(at: "status.podIP")?.stringValue ?? "<none>" },
            text("Node", priority: 1) { $0.value(at: "spec.nodeName")?.stringValue ?? "<none>" },
            text("Nominated Node", priority: 1) { $0.value(at: "status.nominatedNodeName")?.stringValue ?? "<none>" },
            text("Readiness Gates", priority: 1) { _ in "<none>" },
        ],
        "deployments": [
            text("Ready") { "\(int($0, "status.readyReplicas"))/\(int($0, "spec.replicas"))" },
            count("Up-to-date", "status.updatedReplicas"), count("Available", "status.availableReplicas"), age, containers, images, selector,
        ],
        "replicasets": [
            count("Desired", "spec.replicas"), count("Current", "status.replicas"), count("Ready", "status.readyReplicas"), age,
            containers, images, selector,
        ],
        "daemonsets": [
            count("Desired", "status.desiredNumberScheduled"), count("Current", "status.currentNumberScheduled"), count("Ready", "status.numberReady"),
            count("Up-to-date", "status.updatedNumberScheduled"), count("Available", "status.numberAvailable"),
            text("Node Selector") { object in
                let labels = (object.value(at: "spec.template.spec.nodeSelector")?.objectValue ?? [:]).sorted { $0.key < $1.key }
                return labels.isEmpty ? "<none>" : labels.compactMap { key, value in value.stringValue.map { "\(key)=\($0)" } }.joined(separator: ",")
            },
            age, containers, images, selector,
        ],
        "services": [
            text("Type") { $0.value(at: "spec.type")?.stringValue ?? "ClusterIP" },
            text("Cluster-IP") { $0.value(at: "spec.clusterIP")?.stringValue ?? "<none>" },
            text("External-IP") { service in
                let external = (service.value(at: "spec.externalIPs")?.arrayValue ?? []).compactMap(\.stringValue)
                if service.value(at: "spec.type") == "LoadBalancer" && external.isEmpty { return "<pending>" }
                return external.isEmpty ? "<none>" : external.joined(separator: ",")
            },
            text("Port(s)") { service in
                let ports = (service.value(at: "spec.ports")?.arrayValue ?? []).map { port -> String in
                    let number = int(port, "port"), node = int(port, "nodePort")
                    return "\(number)\(node != 0 ? ":\(node)" : "")/\(port["protocol"]?.stringValue ?? "TCP")"
                }
                return ports.isEmpty ? "<none>" : ports.joined(separator: ",")
            },
            age, selector,
        ],
        "endpointslices": [
            text("AddressType") { $0["addressType"]?.stringValue ?? "" },
            text("Ports") { slice in
                let ports = (slice["ports"]?.arrayValue ?? []).map { String(int($0, "port")) }
                return ports.isEmpty ? "<unset>" : ports.joined(separator: ",")
            },
            text("Endpoints") { slice in
                let addresses = (slice["endpoints"]?.arrayValue ?? []).flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) }
                if addresses.isEmpty { return "<unset>" }
                return addresses.prefix(3).joined(separator: ",") + (addresses.count > 3 ? " + \(addresses.count - 3) more..." : "")
            },
            age,
        ],
        "nodes": [
            text("Status") { node in
                let ready = (node.value(at: "status.conditions")?.arrayValue ?? []).first { $0["type"] == "Ready" }?["status"] == "True"
                return ready ? "Ready" : "NotReady"
            },
            text("Roles") { _ in "<none>" }, age,
            text("Version") { $0.value(at: "status.nodeInfo.kubeletVersion")?.stringValue ?? "" },
            text("Internal-IP", priority: 1) { node in
                (node.value(at: "status.addresses")?.arrayValue ?? []).first { $0["type"] == "InternalIP" }?["address"]?.stringValue ?? "<none>"
            },
        ],
        "namespaces": [text("Status") { $0.value(at: "status.phase")?.stringValue ?? "Active" }, age],
        "configmaps": [Column(name: "Data", type: "integer") { object, _ in .int(Int64(object["data"]?.objectValue?.count ?? 0)) }, age],
        "serviceaccounts": [age],
    ]

    /// `duration.HumanDuration` of the object's age, as kubectl shows it (`45s`, `3m12s`, `5h`, `2d3h`).
    static func humanAge(_ object: JSONValue, _ now: Date) -> String {
        guard let text = object.value(at: "metadata.creationTimestamp")?.stringValue,
              let created = try? Date(text, strategy: .iso8601) else { return "<unknown>" }
        let seconds = Int(now.timeIntervalSince(created))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        let days = hours / 24
        if days / 365 < 8 { return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d" }
        return "\(days / 365)y"
    }
}
