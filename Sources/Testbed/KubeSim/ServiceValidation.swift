import VPCNetCore

/// `SetDefaults_Service` and the allocated values an update keeps (the registry's
/// `patchAllocatedValues`): a client that leaves out the cluster IP or a node port keeps it.
enum ServiceDefaults {
    static func apply(_ service: inout JSONValue) {
        if service["spec"] == nil { service["spec"] = [:] }
        let type = service.value(at: "spec.type")?.stringValue ?? "ClusterIP"
        service["spec"]?["type"] = .string(type)
        if service.value(at: "spec.sessionAffinity") == nil { service["spec"]?["sessionAffinity"] = "None" }
        if service.value(at: "spec.sessionAffinity") == "ClientIP", service.value(at: "spec.sessionAffinityConfig.clientIP.timeoutSeconds") == nil {
            service["spec"]?["sessionAffinityConfig"] = ["clientIP": ["timeoutSeconds": 10800]]
        }
        if var ports = service.value(at: "spec.ports")?.arrayValue {
            for index in ports.indices {
                if ports[index]["protocol"] == nil { ports[index]["protocol"] = "TCP" }
                switch ports[index]["targetPort"] {
                case nil, .int(0)?, .string("")?: ports[index]["targetPort"] = ports[index]["port"]
                default: break
                }
            }
            service["spec"]?["ports"] = .array(ports)
        }
        guard type != "ExternalName" else { return }
        if ["NodePort", "LoadBalancer"].contains(type), service.value(at: "spec.externalTrafficPolicy") == nil {
            service["spec"]?["externalTrafficPolicy"] = "Cluster"
        }
        if service.value(at: "spec.internalTrafficPolicy") == nil { service["spec"]?["internalTrafficPolicy"] = "Cluster" }
        if service.value(at: "spec.ipFamilies") == nil { service["spec"]?["ipFamilies"] = ["IPv4"] }
        if service.value(at: "spec.ipFamilyPolicy") == nil { service["spec"]?["ipFamilyPolicy"] = "SingleStack" }
        if service["status"] == nil { service["status"] = ["loadBalancer": [:]] }
    }

    static func keepAllocated(_ service: inout JSONValue, from old: JSONValue) {
        dropTypeDependentFields(&service, old: old)
        let type = service.value(at: "spec.type")?.stringValue
        if type != "ExternalName", (service.value(at: "spec.clusterIP")?.stringValue ?? "").isEmpty,
           let ip = old.value(at: "spec.clusterIP"), old.value(at: "spec.type")?.stringValue != "ExternalName" {
            service["spec"]?["clusterIP"] = ip
            service["spec"]?["clusterIPs"] = old.value(at: "spec.clusterIPs") ?? [ip]
        }
        let external: Set<String?> = ["NodePort", "LoadBalancer"]
        guard external.contains(type), external.contains(old.value(at: "spec.type")?.stringValue),
              var ports = service.value(at: "spec.ports")?.arrayValue else { return }
        let oldPorts = old.value(at: "spec.ports")?.arrayValue ?? []
        let used = Set(ports.compactMap { nodePort($0) }).intersection(oldPorts.compactMap { nodePort($0) })
        let byName = Dictionary(oldPorts.map { ($0["name"]?.stringValue ?? "", $0["nodePort"]) }, uniquingKeysWith: { first, _ in first })
        for index in ports.indices where nodePort(ports[index]) == nil {
            if let old = byName[ports[index]["name"]?.stringValue ?? ""] ?? nil, let number = nodePort(["nodePort": old]), !used.contains(number) {
                ports[index]["nodePort"] = old
            }
        }
        service["spec"]?["ports"] = .array(ports)
        if service.value(at: "spec.healthCheckNodePort") == nil, let port = old.value(at: "spec.healthCheckNodePort") {
            service["spec"]?["healthCheckNodePort"] = port
        }
    }

    /// A Service that stops being externally reachable drops what only such Services have, when
    /// the update left those fields as they were (the registry's `dropTypeDependentFields`).
    static func dropTypeDependentFields(_ service: inout JSONValue, old: JSONValue) {
        let external: Set<String?> = ["NodePort", "LoadBalancer"]
        guard external.contains(old.value(at: "spec.type")?.stringValue), !external.contains(service.value(at: "spec.type")?.stringValue) else { return }
        let oldPorts = Set((old.value(at: "spec.ports")?.arrayValue ?? []).compactMap { nodePort($0) })
        if var ports = service.value(at: "spec.ports")?.arrayValue {
            for index in ports.indices where nodePort(ports[index]).map(oldPorts.contains) == true { ports[index]["nodePort"] = nil }
            service["spec"]?["ports"] = .array(ports)
        }
        for field in ["externalTrafficPolicy", "healthCheckNodePort"] where service.value(at: "spec.\(field)") == old.value(at: "spec.\(field)") {
            service["spec"]?[field] = nil
        }
    }

    static func nodePort(_ port: JSONValue) -> Int? {
        if case .int(let number)? = port["nodePort"], number != 0 { return Int(number) }
        return nil
    }
}

/// The checks of `ValidateService` (and `ValidateServiceUpdate`) for what the simulator serves,
/// with the API server's field paths and wording.
enum ServiceValidation {
    static let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
    static let protocols = ["SCTP", "TCP", "UDP"]

    static func problems(_ service: JSONValue, old: JSONValue?, nodePortRange: ClosedRange<Int>) -> [String] {
        var problems: [String] = []
        let spec = service["spec"] ?? [:]
        let type = spec["type"]?.stringValue ?? "ClusterIP"
        guard types.contains(type) else {
            return ["spec.type: Unsupported value: \"\(type)\": supported values: \(types.map { "\"\($0)\"" }.joined(separator: ", "))"]
        }
        let clusterIP = spec["clusterIP"]?.stringValue ?? ""
        if type == "ExternalName" {
            if (spec["externalName"]?.stringValue ?? "").isEmpty { problems.append("spec.externalName: Required value") }
            if !clusterIP.isEmpty { problems.append("spec.clusterIPs: Invalid value: [\"\(clusterIP)\"]: may not be set for ExternalName services") }
        }
        let ports = spec["ports"]?.arrayValue ?? []
        if ports.isEmpty && type != "ExternalName" && clusterIP != "None" { problems.append("spec.ports: Required value") }
        var names: Set<String> = [], portKeys: Set<String> = [], nodePortKeys: Set<String> = []
        let external = type == "NodePort" || type == "LoadBalancer"
        let externallyAccessible = external || (type == "ClusterIP" && !(spec["externalIPs"]?.arrayValue ?? []).isEmpty)
        for (index, port) in ports.enumerated() {
            let at = "spec.ports[\(index)]"
            let name = port["name"]?.stringValue ?? ""
            if ports.count > 1 && name.isEmpty { problems.append("\(at).name: Required value") }
            if !name.isEmpty && !isPortName(name) {
                problems.append("\(at).name: Invalid value: \"\(name)\": a DNS-1123 label must consist of lower case alphanumeric characters or '-'")
            }
            if !name.isEmpty && !names.insert(name).inserted { problems.append("\(at).name: Duplicate value: \"\(name)\"") }
            let proto = port["protocol"]?.stringValue ?? "TCP"
            if !protocols.contains(proto) {
                problems.append("\(at).protocol: Unsupported value: \"\(proto)\": supported values: \"SCTP\", \"TCP\", \"UDP\"")
            }
            guard case .int(let number)? = port["port"], (1...65535).contains(number) else {
                problems.append("\(at).port: Invalid value: \(port["port"]?.serialized() ?? "0"): must be between 1 and 65535, inclusive")
                continue
            }
            if !portKeys.insert("\(number)/\(proto)").inserted { problems.append("\(at): Duplicate value: \(number)/\(proto)") }
            switch port["targetPort"] {
            case .int(let target)? where !(1...65535).contains(target):
                problems.append("\(at).targetPort: Invalid value: \(target): must be between 1 and 65535, inclusive")
            case .string(let target)? where !isPortName(target) || target.count > 15 || !target.contains(where: \.isLetter):
                problems.append("\(at).targetPort: Invalid value: \"\(target)\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15, and at least one letter")
            case .int?, .string?, nil: break
            default: problems.append("\(at).targetPort: Invalid value: must be a port number or a port name")
            }
            if let nodePort = ServiceDefaults.nodePort(port) {
                if !external {
                    problems.append("\(at).nodePort: Forbidden: may not be used when `type` is '\(type)'")
                } else if !nodePortRange.contains(nodePort) {
                    problems.append("\(at).nodePort: Invalid value: \(nodePort): provided port is not in the valid range. The range of valid ports is \(nodePortRange.lowerBound)-\(nodePortRange.upperBound)")
                } else if !nodePortKeys.insert("\(nodePort)/\(proto)").inserted {
                    problems.append("\(at).nodePort: Duplicate value: \"\(nodePort)/\(proto)\"")
                }
            }
        }
        problems += policies(spec, type: type, external: externallyAccessible)
        if let old, let previous = old.value(at: "spec.clusterIP")?.stringValue, !previous.isEmpty,
           old.value(at: "spec.type")?.stringValue != "ExternalName", type != "ExternalName", clusterIP != previous {
            problems.append("spec.clusterIPs[0]: Invalid value: [\"\(clusterIP)\"]: may not change once set")
        }
        return problems
    }

    static func policies(_ spec: JSONValue, type: String, external: Bool) -> [String] {
        var problems: [String] = []
        if let policy = spec["externalTrafficPolicy"]?.stringValue {
            if !external {
                problems.append("spec.externalTrafficPolicy: Invalid value: \"\(policy)\": may only be set for externally-accessible services")
            } else if !["Cluster", "Local"].contains(policy) {
                problems.append("spec.externalTrafficPolicy: Unsupported value: \"\(policy)\": supported values: \"Cluster\", \"Local\"")
            }
        }
        if let policy = spec["internalTrafficPolicy"]?.stringValue, !["Cluster", "Local"].contains(policy) {
            problems.append("spec.internalTrafficPolicy: Unsupported value: \"\(policy)\": supported values: \"Cluster\", \"Local\"")
        }
        switch spec["sessionAffinity"]?.stringValue ?? "None" {
        case "None":
            if spec["sessionAffinityConfig"] != nil {
                problems.append("spec.sessionAffinityConfig: Invalid value: must not be set when `sessionAffinity` is None")
            }
        case "ClientIP":
            if case .int(let seconds)? = spec.value(at: "sessionAffinityConfig.clientIP.timeoutSeconds"), !(1...86400).contains(seconds) {
                problems.append("spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: \(seconds): must be greater than 0 and less than 86400")
            }
        case let other: problems.append("spec.sessionAffinity: Unsupported value: \"\(other)\": supported values: \"ClientIP\", \"None\"")
        }
        if let selector = spec["selector"], selector.objectValue?.values.allSatisfy({ $0.stringValue != nil }) != true {
            problems.append("spec.selector: Invalid value: must be a map of label keys to string values")
        }
        return problems
    }

    /// An IANA service name or DNS label: lower case letters, digits and inner hyphens.
    static func isPortName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 63, name.first != "-", name.last != "-" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }
}
