import HostNetwork
import Netlink
import Synchronization
import VPCNetCore

/// An in-memory host for the reconcile logic: links, addresses, routes, rules, sysctls, and
/// iptables with just enough of `iptables-restore`'s semantics (`:chain`, `-F`, `-X`, `-A`, `-D`)
/// for what vpcnet writes. Counts writes so "a second pass writes nothing" is checkable.
public final class FakeKernel: HostKernel {
    public struct Snapshot: Equatable, Sendable {
        public var links: [Link] = []
        public var addresses: [Int32: Set<InterfaceAddress>] = [:]
        public var routes: Set<Route> = []
        public var rules: Set<Rule> = []
        public var sysctls: [String: String] = [:]
        /// table → chain → rules (in order); built-in chains are present from the start.
        public var iptables: [String: [String: [String]]] = [
            "filter": ["INPUT": [], "FORWARD": [], "OUTPUT": []],
            "mangle": ["PREROUTING": [], "INPUT": [], "FORWARD": [], "OUTPUT": [], "POSTROUTING": []],
            "nat": ["PREROUTING": [], "INPUT": [], "OUTPUT": [], "POSTROUTING": []],
        ]
    }

    public struct Failure: Error {}

    private let state: Mutex<(snapshot: Snapshot, writes: Int, failNext: Set<String>)>

    public init(links: [Link], sysctls: [String: String]) {
        var snapshot = Snapshot()
        snapshot.links = links
        snapshot.sysctls = sysctls
        state = Mutex((snapshot, 0, []))
    }

    public var snapshot: Snapshot { state.withLock { $0.snapshot } }
    public var writes: Int { state.withLock { $0.writes } }
    public func mutate(_ body: (inout Snapshot) -> Void) { state.withLock { body(&$0.snapshot) } }
    /// The next call of `operation` (e.g. "addRoute") fails.
    public func failNext(_ operation: String) { state.withLock { _ = $0.failNext.insert(operation) } }

    private func write(_ operation: String, _ body: (inout Snapshot) throws -> Void) throws {
        try state.withLock { state in
            if state.failNext.remove(operation) != nil { throw Failure() }
            state.writes += 1
            try body(&state.snapshot)
        }
    }

    public func links() throws -> [Link] { snapshot.links }
    public func addresses() throws -> [(index: Int32, address: InterfaceAddress)] {
        snapshot.addresses.flatMap { index, addresses in addresses.map { (index, $0) } }
    }
    public func routes() throws -> [Route] { Array(snapshot.routes) }
    public func rules() throws -> [Rule] { Array(snapshot.rules) }

    public func setLink(index: Int32, mtu: UInt32?, up: Bool?) throws {
        try write("setLink") { snapshot in
            guard let position = snapshot.links.firstIndex(where: { $0.index == index }) else { throw Failure() }
            if let mtu { snapshot.links[position].mtu = mtu }
            if let up { snapshot.links[position].isUp = up }
        }
    }
    public func addAddress(_ address: InterfaceAddress, index: Int32) throws {
        try write("addAddress") { snapshot in
            guard snapshot.addresses[index, default: []].insert(address).inserted else { throw Failure() }
        }
    }
    public func deleteAddress(_ address: InterfaceAddress, index: Int32) throws {
        try write("deleteAddress") { snapshot in
            guard snapshot.addresses[index]?.remove(address) != nil else { throw Failure() }
            if snapshot.addresses[index]?.isEmpty == true { snapshot.addresses[index] = nil }
        }
    }
    public func addRoute(_ route: Route) throws { try write("addRoute") { _ = $0.routes.insert(route) } }
    public func deleteRoute(_ route: Route) throws {
        try write("deleteRoute") { guard $0.routes.remove(route) != nil else { throw Failure() } }
    }
    public func addRule(_ rule: Rule) throws {
        try write("addRule") { guard $0.rules.insert(rule).inserted else { throw Failure() } }
    }
    public func deleteRule(_ rule: Rule) throws {
        try write("deleteRule") { guard $0.rules.remove(rule) != nil else { throw Failure() } }
    }
    public func readSysctls(_ keys: [String]) throws -> [String: String] {
        let all = snapshot.sysctls
        return Dictionary(uniqueKeysWithValues: keys.compactMap { key in all[key].map { (key, $0) } })
    }
    public func writeSysctls(_ values: [String: String]) throws {
        try write("writeSysctls") { snapshot in
            for (key, value) in values {
                guard snapshot.sysctls[key] != nil else { throw Failure() }
                snapshot.sysctls[key] = value
            }
        }
    }

    public func iptablesSave() async throws -> String {
        var text = ""
        for (table, chains) in snapshot.iptables.sorted(by: { $0.key < $1.key }) {
            text += "*\(table)\n"
            for name in chains.keys.sorted() { text += ":\(name) - [0:0]\n" }
            for (_, rules) in chains.sorted(by: { $0.key < $1.key }) { for rule in rules { text += rule + "\n" } }
            text += "COMMIT\n"
        }
        return text
    }

    public func iptablesRestore(_ input: String) async throws {
        try write("iptablesRestore") { snapshot in
            var tables = snapshot.iptables
            var table = ""
            for line in input.split(separator: "\n").map(String.init) {
                let words = line.split(separator: " ").map(String.init)
                if line.hasPrefix("*") {
                    table = String(line.dropFirst())
                } else if line.hasPrefix(":") {
                    tables[table, default: [:]][String(words[0].dropFirst())] = []
                } else if words.first == "-F" {
                    tables[table]?[words[1]] = []
                } else if words.first == "-X" {
                    guard tables[table]?[words[1]]?.isEmpty == true else { throw Failure() }
                    tables[table]?[words[1]] = nil
                } else if words.first == "-A" {
                    guard tables[table]?[words[1]] != nil else { throw Failure() }
                    tables[table]?[words[1]]?.append(line)
                } else if words.first == "-D" {
                    let rule = "-A" + line.dropFirst(2)
                    guard let position = tables[table]?[words[1]]?.firstIndex(of: rule) else { throw Failure() }
                    tables[table]?[words[1]]?.remove(at: position)
                } else if line != "COMMIT" {
                    throw Failure()
                }
            }
            snapshot.iptables = tables
        }
    }
}
