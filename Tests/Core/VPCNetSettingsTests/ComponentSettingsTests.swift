import Testing
import VPCNetCore
import VPCNetSettings

@Suite struct ControllerSettingsTests {
    @Test func configurationSourcesAndErrors() throws {
        let resolved = try ControllerConfiguration.resolve(
            flags: ["workers": "3"], environment: ["VPCNET_WORKERS": "9", "VPCNET_SWEEP_GRACE": "20m", "VPCNET_CLUSTER_NAME": "from-env"],
            file: ["cluster-name": "from-file", "subnet-tags": "kubernetes.io/role/cni=1, tier=pods", "delete-enis-on-node-deletion": "false"])
        #expect(resolved.clusterName == "from-env" && resolved.workers == 3 && resolved.sweepGrace == .seconds(1200))
        #expect(resolved.subnetTags == ["kubernetes.io/role/cni": "1", "tier": "pods"] && !resolved.deleteENIsOnNodeDeletion)
        let bad: [([String: String], String)] = [
            ([:], "cluster name is required"),
            (["cluster-name": "a b"], "must be at most"),
            (["cluster-name": "c", "workers": "0"], "workers must be"),
            (["cluster-name": "c", "sweep-grace": "soon"], "expected a duration"),
            (["cluster-name": "c", "subnet-tags": "novalue"], "KEY=VALUE"),
            (["cluster-name": "c", "delete-enis-on-node-deletion": "maybe"], "true or false"),
        ]
        for (flags, expected) in bad {
            #expect(throws: ConfigurationError.self) { try ControllerConfiguration.resolve(flags: flags, environment: [:], file: [:]) }
            do { _ = try ControllerConfiguration.resolve(flags: flags, environment: [:], file: [:]) } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }
}

@Suite struct DaemonSettingsTests {
    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let configuration = try DaemonConfiguration.resolve(
            flags: ["mtu": "1500", "metadata-access": "redirect:8181"],
            environment: ["NODE_NAME": "ip-10-0-0-10", "VPCNET_MTU": "9000", "VPCNET_COOLDOWN": "3m", "VPCNET_IPTABLES_BACKEND": "legacy"],
            file: ["cooldown": "10s", "excluded-snat-cidrs": "192.168.0.0/16, 172.16.0.0/12", "external-snat": "true", "state-dir": "/srv/vpcnet"])
        #expect(configuration.nodeName == "ip-10-0-0-10" && configuration.datapath.mtu == 1500)
        #expect(configuration.datapath.metadata == .redirected(port: 8181) && configuration.cooldown == .seconds(180))
        #expect(configuration.iptablesBackend == .legacy && configuration.datapath.externalSNAT)
        #expect(configuration.datapath.excludedSNATCIDRs.map(\.description) == ["192.168.0.0/16", "172.16.0.0/12"])
        #expect(configuration.stateDirectory == "/srv/vpcnet" && configuration.spoolDirectory == "/srv/vpcnet/spool")
    }

    /// The default return-path mark shares no bit with kube-proxy's, Calico's or Cilium's marks;
    /// an operator's choice is read in hex or decimal.
    @Test func theReturnPathMarkStaysClearOfOthersMarks() throws {
        let defaults = try DaemonConfiguration.resolve(flags: ["node-name": "n"], environment: [:], file: [:])
        #expect(defaults.datapath.connmark == 0x80)
        #expect(FirewallMarks.overlaps(defaults.datapath.connmark) == [])
        #expect(defaults.datapath.connmark & (0x4000 | 0x8000) == 0, "kube-proxy's masquerade and drop bits")
        let chosen = try DaemonConfiguration.resolve(flags: ["node-name": "n", "return-path-mark": "0x20"], environment: [:], file: [:])
        #expect(chosen.datapath.connmark == 0x20)
        #expect(try DaemonConfiguration.resolve(flags: ["node-name": "n", "return-path-mark": "64"], environment: [:], file: [:])
            .datapath.connmark == 0x40)
    }

    @Test(arguments: [
        ([String: String](), "node name is required"),
        (["node-name": "n", "mtu": "70000"], "--mtu: expected a whole number 576…9001"),
        (["node-name": "n", "metadata-access": "proxy"], "expected blocked, allowed or redirect:PORT"),
        (["node-name": "n", "state-dir": "relative/dir"], "expected an absolute path"),
        (["node-name": "n", "excluded-snat-cidrs": "10.0.0.0/33"], "is not an IPv4 CIDR"),
        (["node-name": "n", "iptables-backend": "ebpf"], "expected auto, nft or legacy"),
        (["node-name": "n", "return-path-mark": "0x4000"], "0x4000 is kube-proxy's masquerade mark"),
        (["node-name": "n", "return-path-mark": "32768"], "32768 is kube-proxy's and the kubelet's drop mark"),
        (["node-name": "n", "return-path-mark": "0xc0"], "expected one mark bit such as 0x80"),
        (["node-name": "n", "return-path-mark": "0x"], "expected one mark bit"),
    ])
    func badSettingsAreClearErrors(flags: [String: String], message: String) {
        #expect { try DaemonConfiguration.resolve(flags: flags, environment: [:], file: [:]) } throws: { "\($0)".contains(message) }
    }
}
