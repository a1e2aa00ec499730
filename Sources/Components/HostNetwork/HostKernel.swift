import Netlink
import VPCNetCore

/// The host networking a ``HostDatapath`` reads and changes: links, addresses, routes, rules,
/// sysctls and iptables. A small surface so the reconcile decisions are unit-tested against a fake;
/// ``LinuxKernel`` is the real one.
public protocol HostKernel: Sendable {
    func links() throws -> [Link]
    func addresses() throws -> [(index: Int32, address: InterfaceAddress)]
    func routes() throws -> [Route]
    func rules() throws -> [Rule]
    func setLink(index: Int32, mtu: UInt32?, up: Bool?) throws
    func addAddress(_ address: InterfaceAddress, index: Int32) throws
    func deleteAddress(_ address: InterfaceAddress, index: Int32) throws
    func addRoute(_ route: Route) throws
    func deleteRoute(_ route: Route) throws
    func addRule(_ rule: Rule) throws
    func deleteRule(_ rule: Rule) throws
    /// Current values of sysctls named by their path under `/proc/sys` (`net/ipv4/ip_forward`);
    /// keys that do not exist (an interface that went away) are absent from the answer.
    func readSysctls(_ keys: [String]) throws -> [String: String]
    func writeSysctls(_ values: [String: String]) throws
    /// `iptables-save` of the tables vpcnet uses.
    func iptablesSave() async throws -> String
    /// `iptables-restore --noflush` of `input`: one atomic batch.
    func iptablesRestore(_ input: String) async throws
}
