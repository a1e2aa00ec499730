import AsyncHTTPClient
import Foundation
import NIOCore
import VPCNetContracts
import VPCNetCore

/// `vpcnetctl status`: the daemon's introspection endpoint, read and shown.
public enum StatusReport {
    public static let defaultEndpoint = "http://127.0.0.1:\(WellKnown.Ports.introspection)"

    /// GET `endpoint`/v1/status; the raw JSON and its decoded form.
    public static func fetch(endpoint: String, timeout: Duration = .seconds(5)) async throws -> (raw: Data, status: NodeStatus) {
        let url = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        var request = HTTPClientRequest(url: url + "/v1/status")
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(timeout.milliseconds))
        } catch {
            throw UsageError("cannot reach the daemon's introspection endpoint at \(url) (\(error)); run this on the node or in its vpcnet-daemon pod")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else { throw UsageError("\(url)/v1/status answered \(response.status)") }
        let data = Data(body.readableBytesView)
        do {
            return (data, try NodeStatus.decoder.decode(NodeStatus.self, from: data))
        } catch {
            throw UsageError("\(url)/v1/status is not a vpcnet node status: \(error)")
        }
    }

    /// The human view: a summary, the ENIs, then every address.
    public static func table(_ status: NodeStatus) -> String {
        var lines: [String] = []
        var head = "node \(status.nodeName): \(status.ready ? "ready" : "NOT READY")"
        if let pass = status.lastPass {
            head += "; last pass \(iso(pass.finishedAt)) \(pass.result) (\(pass.detail)) in \(String(format: "%.3f", pass.durationSeconds)) s"
        }
        lines.append(head)
        let pool = status.pool
        lines.append(pool.configured
            ? "addresses: \(pool.total) usable, \(pool.allocated) allocated, \(pool.free) free, \(pool.coolingDown) cooling down"
            : "addresses: not configured yet")
        for profile in status.profiles ?? [] {
            let pool = profile.pool
            lines.append("profile \(profile.name): \(pool.total) usable, \(pool.allocated) allocated, \(pool.free) free, \(pool.coolingDown) cooling down")
        }
        let prefixes = status.enis.reduce(0) { $0 + ($1.prefixes?.count ?? 0) }
        let singles = status.enis.reduce(0) { $0 + ($1.singleAddresses?.count ?? 0) }
        lines.append("pod ENIs: \(status.enis.count), with \(prefixes) /28 prefixes and \(singles) single addresses")
        if let record = status.record {
            lines.append("instance: \(record.instanceID) \(record.instanceType) in \(record.availabilityZone), \(record.vpcID)")
        }
        lines.append("")
        var enis = [["ENI", "DEVICE", "PROFILE", "SUBNET", "PRIMARY", "PREFIXES", "SINGLES", "ALLOCATED", "FREE", "COOLING"]]
        for eni in status.enis {
            let count = { (state: AddressState.State) in String(eni.addresses.count { $0.state == state }) }
            let prefixes = eni.prefixes.map { $0.isEmpty ? "-" : $0.map(\.description).joined(separator: ",") } ?? "?"
            enis.append([eni.id.rawValue, String(eni.deviceIndex), eni.profile ?? "-", "\(eni.subnetID) \(eni.subnetCIDR)", eni.primaryIP.description,
                         prefixes, eni.singleAddresses.map { String($0.count) } ?? "?",
                         count(.allocated), count(.free), count(.coolingDown)])
        }
        lines += columns(enis)
        lines.append("")
        let holders = Dictionary(status.allocations.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        var addresses = [["ADDRESS", "ENI", "STATE", "POD", "CONTAINER", "HOST-PORTS", "SINCE"]]
        for eni in status.enis {
            for address in eni.addresses {
                var row = [address.address.description, eni.id.rawValue, address.state.rawValue, "", "", "", ""]
                if let key = address.attachment {
                    let allocation = holders[key]
                    let pod = allocation.map { $0.pod.isEmpty ? "-" : "\($0.pod.namespace)/\($0.pod.name)" } ?? "-"
                    row[3] = pod
                    row[4] = "\(key.containerID.prefix(12)) \(key.interface)"
                    let ports = allocation?.hostPorts.map(\.description).joined(separator: ",") ?? ""
                    row[5] = ports.isEmpty ? "-" : ports
                    row[6] = allocation.map { iso(Date(timeIntervalSince1970: Double($0.allocatedAt) / 1000)) } ?? ""
                } else if let freeAt = address.freeAt {
                    row[6] = "free at \(iso(Date(timeIntervalSince1970: Double(freeAt) / 1000)))"
                }
                addresses.append(row)
            }
        }
        lines += columns(addresses)
        // Allocations whose address is not usable now (its ENI's interface is missing or it left the record).
        let shown = Set(status.enis.flatMap { $0.addresses.compactMap(\.attachment) })
        let others = status.allocations.filter { !shown.contains($0.key) }
        if !others.isEmpty {
            lines.append("")
            lines.append("held on ENIs not in use now: " + others.map { "\($0.address) (\($0.pod.namespace)/\($0.pod.name))" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    /// Left-aligned columns two spaces apart.
    static func columns(_ rows: [[String]]) -> [String] {
        guard let width = rows.first?.count else { return [] }
        let widths = (0..<width).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $0.offset == width - 1 ? $0.element : $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
    }
}
