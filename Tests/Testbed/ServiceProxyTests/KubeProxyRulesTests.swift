import Kubernetes
@testable import ServiceProxy
import Testing
import VPCNetCore

/// The rule set against kube-proxy's own: chain names against its test fixtures, rules against
/// the lines `syncProxyRules` writes for the same Services (EKS's configuration: no local-traffic detector).
@Suite struct KubeProxyRulesTests {
    let rules = KubeProxyRules(nodeName: "node-a")

    @Test func chainNamesAreKubeProxysHashes() {
        // From kube-proxy's proxier_test.go fixtures, and the `kubernetes` Service's chain on every cluster.
        #expect(KubeProxyRules.chainName("KUBE-SVC-", "ns1/svc1:p80", "tcp") == "KUBE-SVC-XPGD46QRK7WJZT7O")
        #expect(KubeProxyRules.endpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ")
        #expect(KubeProxyRules.chainName("KUBE-SVC-", "ns2/svc2:p8080", "tcp") == "KUBE-SVC-2VJB64SDSIJUP5T6")
        #expect(KubeProxyRules.endpointChainName("ns2/svc2:p8080", "tcp", "10.0.2.1:8080") == "KUBE-SEP-UHEGFW77JX3KXTOV")
        #expect(KubeProxyRules.chainName("KUBE-SVC-", "default/kubernetes:https", "tcp") == "KUBE-SVC-NPX46M4PTMTKRN6Y")
        #expect(KubeProxyRules.chainName("KUBE-SVC-", "kube-system/kube-dns:dns", "udp") == "KUBE-SVC-TCOU7JCQXEZGVUNU")
        #expect(KubeProxyRules.masqueradeMark == "0x00004000", "kube-proxy's %#08x of 1<<14")
    }

    static let remote = ServicePortInfo.Endpoint(ip: "10.244.2.6", port: 8080)
    static let local = ServicePortInfo.Endpoint(ip: "10.244.1.5", port: 8080, isLocal: true)

    func nat(_ ports: [ServicePortInfo], existing: Set<String> = []) -> [String] {
        let text = rules.render(ports, existingNATChains: existing)
        return Array(text.split(separator: "\n").map(String.init).drop { $0 != "*nat" })
    }

    func filter(_ ports: [ServicePortInfo]) -> [String] {
        Array(rules.render(ports).split(separator: "\n").map(String.init).prefix { $0 != "COMMIT" })
    }

    @Test func aClusterIPServiceSpreadsOverItsEndpointsWithoutMasqueradeAsOnEKS() {
        let web = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, endpoints: [Self.remote, Self.local])
        let lines = nat([web])
        let expected = [
            "-A KUBE-SERVICES -m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.100.0.10 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL",
            "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-AFGSLHOD2HFNCBX4",
            "-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.2.6:8080\" -j KUBE-SEP-3OLK2YUW6LHBC4UX",
            "-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080",
            "-A KUBE-SEP-3OLK2YUW6LHBC4UX -m comment --comment default/web:http -s 10.244.2.6 -j KUBE-MARK-MASQ",
            "-A KUBE-SEP-3OLK2YUW6LHBC4UX -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.6:8080",
        ]
        #expect(lines.filter { $0.hasPrefix("-A KUBE-S") && !$0.contains("nodeports") } == expected)
        #expect(!lines.contains { $0.contains("KUBE-SVC-CDGGSHYLG3RE2FKL") && $0.contains("cluster IP") && $0.contains("KUBE-MARK-MASQ") },
                "no --cluster-cidr: no masquerade rule in the service chain")
        #expect(lines.suffix(2) == ["-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS", "COMMIT"])
        #expect(Array(lines.prefix(5)) == ["*nat", ":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"])
        #expect(lines.contains("-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN"))
        #expect(lines.contains("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"))
    }

    @Test func aLocalNodePortGoesToLocalEndpointsAndMasqueradesOnlyTheNodesOwnTraffic() {
        let web = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, nodePort: 30080,
                                  externalPolicyLocal: true, endpoints: [Self.local, Self.remote])
        let lines = nat([web]).filter { $0.hasPrefix("-A KUBE-NODEPORTS") || $0.hasPrefix("-A KUBE-EXT-") || $0.hasPrefix("-A KUBE-SVL-") }
        #expect(lines == [
            "-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-CDGGSHYLG3RE2FKL",
            "-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment \"masquerade LOCAL traffic for default/web:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
            "-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment \"route LOCAL traffic for default/web:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-CDGGSHYLG3RE2FKL",
            "-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVL-CDGGSHYLG3RE2FKL",
            "-A KUBE-SVL-CDGGSHYLG3RE2FKL -m comment --comment \"default/web:http -> 10.244.1.5:8080\" -j KUBE-SEP-AFGSLHOD2HFNCBX4",
        ])
        // Without a local endpoint the node drops external traffic for it, and keeps answering on the cluster IP.
        let remoteOnly = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, nodePort: 30080,
                                         externalPolicyLocal: true, endpoints: [Self.remote])
        #expect(filter([remoteOnly]).contains(
            "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/web:http has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP"))
        #expect(nat([remoteOnly]).contains("-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment \"route LOCAL traffic for default/web:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-CDGGSHYLG3RE2FKL"))
        #expect(!nat([remoteOnly]).contains("-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVL-CDGGSHYLG3RE2FKL"))
    }

    @Test func aClusterNodePortMasqueradesEverything() {
        let web = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, nodePort: 30080, endpoints: [Self.remote])
        #expect(nat([web]).filter { $0.hasPrefix("-A KUBE-EXT-") } == [
            "-A KUBE-EXT-CDGGSHYLG3RE2FKL -m comment --comment \"masquerade traffic for default/web:http external destinations\" -j KUBE-MARK-MASQ",
            "-A KUBE-EXT-CDGGSHYLG3RE2FKL -j KUBE-SVC-CDGGSHYLG3RE2FKL",
        ])
    }

    @Test func withoutEndpointsTheServiceIsRejectedAndItsOldChainsDeleted() {
        let empty = ServicePortInfo(name: "default/web", protocol: "udp", clusterIP: "10.100.0.11", port: 53, nodePort: 30053)
        let filterLines = filter([empty])
        #expect(filterLines.contains("-A KUBE-SERVICES -m comment --comment \"default/web has no endpoints\" -m udp -p udp -d 10.100.0.11 --dport 53 -j REJECT"))
        #expect(filterLines.contains("-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/web has no endpoints\" -m addrtype --dst-type LOCAL -m udp -p udp --dport 30053 -j REJECT"))
        let stale = KubeProxyRules.chainName("KUBE-SVC-", "default/web", "udp")
        let lines = nat([empty], existing: [stale, "KUBE-SERVICES", "SOMEONE-ELSES"])
        #expect(lines.contains(":\(stale) - [0:0]") && lines.contains("-X \(stale)") && !lines.contains("-X SOMEONE-ELSES"))
        #expect(!lines.contains { $0.contains("-A KUBE-SERVICES") && $0.contains("10.100.0.11") })
    }

    @Test func clientIPAffinityChecksTheRecentListFirst() {
        let sticky = ServicePortInfo(name: "ns1/svc1:p80", protocol: "tcp", clusterIP: "172.30.0.41", port: 80, stickyMaxAgeSeconds: 10800,
                                     endpoints: [.init(ip: "10.180.0.1", port: 80)])
        let lines = nat([sticky])
        #expect(lines.contains("-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --rcheck --seconds 10800 --reap -j KUBE-SEP-SXIVWICOYRO3J4NJ"))
        #expect(lines.contains("-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80"))
    }

    @Test func terminatingEndpointsServeOnlyWhenNothingIsReady() {
        let terminating = ServicePortInfo.Endpoint(ip: "10.244.3.7", port: 8080, ready: false, serving: true, terminating: true)
        let both = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, endpoints: [Self.remote, terminating])
        #expect(both.categorized().cluster == [Self.remote])
        let onlyTerminating = ServicePortInfo(name: "default/web:http", protocol: "tcp", clusterIP: "10.100.0.10", port: 80, endpoints: [terminating])
        #expect(onlyTerminating.categorized().cluster == [terminating] && onlyTerminating.categorized().hasAny)
    }

    @Test func servicesAndSlicesBecomePortsAsSeenFromTheNode() {
        let service = Service(raw: ["metadata": ["name": "web", "namespace": "default"],
                                    "spec": ["type": "NodePort", "clusterIP": "172.20.1.5", "externalTrafficPolicy": "Local",
                                             "ports": [["name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080],
                                                       ["name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53, "nodePort": 30053]]]])
        let slice = EndpointSlice(raw: ["metadata": ["name": "web-x", "namespace": "default", "labels": ["kubernetes.io/service-name": "web"]],
                                        "addressType": "IPv4", "ports": [["name": "http", "protocol": "TCP", "port": 8080], ["name": "dns", "protocol": "UDP", "port": 5353]],
                                        "endpoints": [["addresses": ["10.0.1.5"], "conditions": ["ready": true], "nodeName": "node-a"],
                                                      ["addresses": ["10.0.2.6"], "conditions": ["ready": false, "serving": false], "nodeName": "node-b"]]])
        let headless = Service(raw: ["metadata": ["name": "h", "namespace": "default"], "spec": ["clusterIP": "None", "ports": [["port": 80]]]])
        let ports = ServicePortInfo.from(services: [service, headless], slices: [slice], nodeName: "node-a")
        #expect(ports.map(\.name) == ["default/web:dns", "default/web:http"] && ports.map(\.protocol) == ["udp", "tcp"])
        #expect(ports[1].endpoints == [.init(ip: "10.0.1.5", port: 8080, isLocal: true), .init(ip: "10.0.2.6", port: 8080, ready: false, serving: false)])
        #expect(ports[0].nodePort == 30053 && ports[0].externalPolicyLocal && ports[0].endpoints.first?.port == 5353)
    }
}
