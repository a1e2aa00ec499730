import Netlink
import VPCNetCore
import VPCNetSettings

/// What one pass of ``HostDatapath/reconcile(record:)`` found and did.
public struct DatapathReport: Sendable {
    /// One line per change made; empty when the host already matched the record.
    public var changes: [String] = []
    /// ENIs of the record whose interface has not (yet) appeared in the kernel.
    public var missingENIs: [NodeNetworkRecord.ENI] = []
    /// Changes that failed; the next pass tries them again.
    public var failures: [String] = []
    public var primaryInterface = ""
    /// ENI interface names by MAC, for the ENIs that are present.
    public var interfaceNames: [MACAddress: String] = [:]

    /// Every ENI of the record is configured as planned.
    public var isConfigured: Bool { missingENIs.isEmpty && failures.isEmpty }
}

public enum HostDatapathError: Error, CustomStringConvertible {
    case noPrimaryInterface(String)
    public var description: String {
        switch self {
        case .noPrimaryInterface(let detail): "cannot find the node's primary interface: \(detail)"
        }
    }
}

/// Makes the host match a node network record, changing only what differs (level-triggered: a
/// second pass with nothing changed writes nothing; anything removed by hand comes back), and
/// undoes everything on ``uninstall()``. Values it overwrites are kept in the ``HostState`` file
/// first, so a crash at any point leaves enough behind to finish or to undo.
public actor HostDatapath {
    let kernel: any HostKernel
    let configuration: DatapathConfiguration
    let stateFile: HostStateFile
    private(set) var state: HostState

    public init(kernel: any HostKernel, configuration: DatapathConfiguration, stateFile: HostStateFile) throws {
        self.kernel = kernel
        self.configuration = configuration
        self.stateFile = stateFile
        state = try stateFile.load()
    }

    public func reconcile(record: NodeNetworkRecord) async throws -> DatapathReport {
        var report = DatapathReport()
        let links = try kernel.links()
        let byMAC = Dictionary(links.compactMap { link in link.macAddress.map { ($0, link) } }, uniquingKeysWith: { first, _ in first })
        let primary = try primaryInterface(record: record, links: links, byMAC: byMAC)
        report.primaryInterface = primary.name
        report.missingENIs = record.podENIs.filter { byMAC[$0.macAddress] == nil }
        // Rules and routes only for ENIs whose interface is here: nothing points at a table that is empty.
        var present = record
        present.enis = record.enis.filter { $0.deviceIndex == 0 || byMAC[$0.macAddress] != nil }
        let plan = DatapathPlan(record: present, configuration: configuration, primaryInterface: primary.name)
        for link in plan.links { report.interfaceNames[link.mac] = byMAC[link.mac]?.name }

        func attempt(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                report.changes.append(what)
            } catch {
                report.failures.append("\(what): \(error)")
            }
        }

        // Routing first goes away for ENIs no longer wanted, then their links are put back.
        let indexes = Dictionary(uniqueKeysWithValues: plan.links.compactMap { link in byMAC[link.mac].map { (link.mac, $0.index) } })
        let routing = RoutingChanges.between(desiredRoutes: plan.routes(interfaceIndexes: indexes), desiredRules: plan.rules,
                                             kernelRoutes: try kernel.routes(), kernelRules: try kernel.rules(), configuration: configuration)
        for rule in routing.deleteRules { attempt("delete rule \(rule)") { try kernel.deleteRule(rule) } }
        for route in routing.deleteRoutes { attempt("delete route \(route)") { try kernel.deleteRoute(route) } }

        let wanted = Set(record.podENIs.map(\.macAddress))
        let addresses = try kernel.addresses()
        for (mac, configured) in state.links where !wanted.contains(mac) {
            // Forgotten only once put back (or gone): a failed restore is retried next pass.
            if let link = byMAC[mac], !restore(link, configured, addresses: addresses, attempt: attempt) { continue }
            state.links[mac] = nil
            try stateFile.save(state)
        }

        for planned in plan.links {
            guard let link = byMAC[planned.mac] else { continue }
            if state.links[planned.mac] == nil {
                state.links[planned.mac] = HostState.ConfiguredLink(name: link.name, originalMTU: link.mtu, wasUp: link.isUp,
                                                                    address: planned.address.address)
                try stateFile.save(state)
            }
            if link.mtu != planned.mtu || !link.isUp {
                attempt("set \(link.name) mtu \(planned.mtu) up") {
                    try kernel.setLink(index: link.index, mtu: link.mtu != planned.mtu ? planned.mtu : nil, up: link.isUp ? nil : true)
                }
            }
            if !addresses.contains(where: { $0.index == link.index && $0.address == planned.address }) {
                attempt("add address \(planned.address) to \(link.name)") { try kernel.addAddress(planned.address, index: link.index) }
            }
        }

        for route in routing.addRoutes { attempt("add route \(route)") { try kernel.addRoute(route) } }
        for rule in routing.addRules { attempt("add rule \(rule)") { try kernel.addRule(rule) } }

        try reconcileSysctls(plan.sysctls(interfaceNames: report.interfaceNames), attempt: attempt)

        do {
            if let input = plan.iptables.restoreInput(current: try await kernel.iptablesSave()) {
                try await kernel.iptablesRestore(input)
                report.changes.append("iptables: \(input.split(separator: "\n").count { $0.hasPrefix("-A ") }) rules in vpcnet's chains")
            }
        } catch {
            report.failures.append("iptables: \(error)")
        }
        return report
    }

    /// Removes everything vpcnet configured: its rules and routes (by priority and table, so even
    /// without the state file), its iptables chains, and the links and sysctls it changed. Returns
    /// what it did.
    public func uninstall() async throws -> [String] {
        var done: [String] = []
        var failures: [String] = []
        func attempt(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                done.append(what)
            } catch {
                failures.append("\(what): \(error)")
            }
        }
        for rule in try kernel.rules() where configuration.ownedPriorities.contains(rule.priority) {
            attempt("delete rule \(rule)") { try kernel.deleteRule(rule) }
        }
        for route in try kernel.routes() where configuration.ownedTables.contains(route.table) {
            attempt("delete route \(route)") { try kernel.deleteRoute(route) }
        }
        do {
            if let input = IPTablesRules.removalInput(current: try await kernel.iptablesSave()) {
                try await kernel.iptablesRestore(input)
                done.append("iptables: removed vpcnet's chains")
            }
        } catch {
            failures.append("iptables: \(error)")
        }
        let links = try kernel.links()
        let addresses = try kernel.addresses()
        for (mac, configured) in state.links {
            guard let link = links.first(where: { $0.macAddress == mac }) else { continue }
            restore(link, configured, addresses: addresses, attempt: attempt)
        }
        let current = try kernel.readSysctls(Array(state.originalSysctls.keys))
        let restore = state.originalSysctls.filter { current[$0.key] != nil && current[$0.key] != $0.value }
        if !restore.isEmpty { attempt("restore sysctls \(restore.keys.sorted())") { try kernel.writeSysctls(restore) } }
        guard failures.isEmpty else { throw UninstallError(failures: failures) }
        state = HostState()
        try stateFile.remove()
        return done
    }

    // MARK: -

    private func primaryInterface(record: NodeNetworkRecord, links: [Link], byMAC: [MACAddress: Link]) throws -> Link {
        if let name = configuration.primaryInterface {
            guard let link = links.first(where: { $0.name == name }) else { throw HostDatapathError.noPrimaryInterface("no interface named \(name)") }
            return link
        }
        if let mac = record.primaryENI?.macAddress, let link = byMAC[mac] { return link }
        let defaultRoute = try kernel.routes().first { $0.table == 254 && $0.destination.prefixLength == 0 && $0.interfaceIndex != nil }
        guard let index = defaultRoute?.interfaceIndex, let link = links.first(where: { $0.index == index }) else {
            throw HostDatapathError.noPrimaryInterface("no interface has the primary ENI's MAC and the main table has no default route")
        }
        return link
    }

    /// Puts a link back as vpcnet found it. Returns whether every step succeeded.
    @discardableResult
    private func restore(_ link: Link, _ configured: HostState.ConfiguredLink, addresses: [(index: Int32, address: InterfaceAddress)],
                         attempt: (String, () throws -> Void) -> Void) -> Bool {
        var succeeded = true
        let address = InterfaceAddress(configured.address, prefixLength: 32)
        if addresses.contains(where: { $0.index == link.index && $0.address == address }) {
            attempt("delete address \(address) from \(link.name)") {
                do { try kernel.deleteAddress(address, index: link.index) } catch { succeeded = false; throw error }
            }
        }
        if link.mtu != configured.originalMTU || link.isUp != configured.wasUp {
            attempt("restore \(link.name) mtu \(configured.originalMTU)\(configured.wasUp ? "" : " down")") {
                do {
                    try kernel.setLink(index: link.index, mtu: link.mtu != configured.originalMTU ? configured.originalMTU : nil,
                                       up: link.isUp != configured.wasUp ? configured.wasUp : nil)
                } catch { succeeded = false; throw error }
            }
        }
        return succeeded
    }

    /// Sets the wanted sysctls (recording each original first), verifies them by reading back,
    /// and restores the originals of those no longer wanted (an ENI removed from the record).
    private func reconcileSysctls(_ wanted: [String: String], attempt: (String, () throws -> Void) -> Void) throws {
        let current = try kernel.readSysctls(Array(Set(wanted.keys).union(state.originalSysctls.keys)))
        var restore: [String: String] = [:]
        var forget: [String] = []
        for (key, original) in state.originalSysctls where wanted[key] == nil {
            if let value = current[key], value != original { restore[key] = original } else { forget.append(key) }
        }
        let change = wanted.filter { current[$0.key] != nil && current[$0.key] != $0.value }
        for key in change.keys where state.originalSysctls[key] == nil { state.originalSysctls[key] = current[key] }
        if !change.isEmpty { try stateFile.save(state) }
        // An original is forgotten only once it is back (or its sysctl is gone with its interface).
        if !restore.isEmpty {
            attempt("restore sysctls \(restore.keys.sorted())") {
                try kernel.writeSysctls(restore)
                forget += restore.keys
            }
        }
        if !forget.isEmpty {
            for key in forget { state.originalSysctls[key] = nil }
            try stateFile.save(state)
        }
        if !change.isEmpty {
            attempt("set sysctls \(change.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })") {
                try kernel.writeSysctls(change)
                let readBack = try kernel.readSysctls(Array(change.keys))
                let wrong = change.filter { readBack[$0.key] != $0.value }
                guard wrong.isEmpty else { throw SysctlError(key: wrong.keys.sorted().joined(separator: ","), reason: "did not keep the value written") }
            }
        }
        for key in wanted.keys where current[key] == nil {
            attempt("sysctl \(key)") { throw SysctlError(key: key, reason: "does not exist") }
        }
    }
}

public struct UninstallError: Error, CustomStringConvertible {
    public var failures: [String]
    public var description: String { "uninstall left work undone: " + failures.joined(separator: "; ") }
}
