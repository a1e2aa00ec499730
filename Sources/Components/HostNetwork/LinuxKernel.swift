import Foundation
import Netlink
import Subprocess
import VPCNetCore
import VPCNetSettings

/// The real host: netlink through libnl-route-3, sysctls under `/proc/sys` (or ``sysctlDirectory``), iptables through
/// `iptables-save` / `iptables-restore` of the detected backend. Bound to one network namespace
/// (the daemon's own, or the one at `namespacePath`: a simulated node).
public final class LinuxKernel: HostKernel {
    public let namespacePath: String?
    public let iptables: IPTablesCommands
    /// Where sysctls are read and written: `/proc/sys`, or a writable bind mount of it (a
    /// container's own `/proc/sys` is read-only unless it is privileged). Network sysctls
    /// belong to the namespace of whoever opens them, whatever the mount.
    public let sysctlDirectory: String
    private let socket: RouteSocket

    public init(namespacePath: String? = nil, iptablesBackend: IPTablesBackend? = nil, sysctlDirectory: String = "/proc/sys") async throws {
        self.namespacePath = namespacePath
        self.sysctlDirectory = sysctlDirectory
        socket = try RouteSocket(namespacePath: namespacePath)
        let backend: IPTablesBackend
        if let iptablesBackend { backend = iptablesBackend } else { backend = try await IPTablesBackend.detect(namespacePath: namespacePath) }
        iptables = IPTablesCommands(backend: backend, namespacePath: namespacePath)
    }

    public func links() throws -> [Link] { try socket.links() }
    public func addresses() throws -> [(index: Int32, address: InterfaceAddress)] { try socket.addresses() }
    public func routes() throws -> [Route] { try socket.routes() }
    public func rules() throws -> [Rule] { try socket.rules() }
    public func setLink(index: Int32, mtu: UInt32?, up: Bool?) throws { try socket.setLink(index: index, mtu: mtu, up: up) }
    public func addAddress(_ address: InterfaceAddress, index: Int32) throws { try socket.addAddress(address, index: index) }
    public func deleteAddress(_ address: InterfaceAddress, index: Int32) throws { try socket.deleteAddress(address, index: index) }
    public func addRoute(_ route: Route) throws { try socket.addRoute(route) }
    public func deleteRoute(_ route: Route) throws { try socket.deleteRoute(route) }
    public func addRule(_ rule: Rule) throws { try socket.addRule(rule) }
    public func deleteRule(_ rule: Rule) throws { try socket.deleteRule(rule) }

    public func readSysctls(_ keys: [String]) throws -> [String: String] {
        try NetworkNamespace.run(path: namespacePath) {
            var values: [String: String] = [:]
            for key in keys {
                guard let bytes = try AtomicFile.read("\(self.sysctlDirectory)/\(key)") else { continue }
                values[key] = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return values
        }
    }

    public func writeSysctls(_ values: [String: String]) throws {
        try NetworkNamespace.run(path: namespacePath) {
            for (key, value) in values.sorted(by: { $0.key < $1.key }) {
                // /proc/sys files are written in place (they cannot be renamed over).
                guard let handle = FileHandle(forWritingAtPath: "\(self.sysctlDirectory)/\(key)") else {
                    throw SysctlError(key: key, reason: "cannot open for writing")
                }
                defer { try? handle.close() }
                do { try handle.write(contentsOf: Data((value + "\n").utf8)) } catch { throw SysctlError(key: key, reason: "\(error)") }
            }
        }
    }

    public func iptablesSave() async throws -> String { try await iptables.save() }
    public func iptablesRestore(_ input: String) async throws { try await iptables.restore(input) }
}

public struct SysctlError: Error, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { "sysctl \(key.replacingOccurrences(of: "/", with: ".")): \(reason)" }
}
