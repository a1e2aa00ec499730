import CNIPlugin
import Foundation
import IPAM
import Testing
import TestSupport
import VPCNetContracts
import VPCNetCore
import VPCNetDaemon

/// The whole chain of an error on the per-pod path, in one place: what the pool says, the gRPC
/// status the daemon's service answers with, and the CNI error code the plugin prints for the
/// runtime — through the real service on its socket and the real plugin and client.
@Suite struct ErrorChainTests {
    /// A daemon's IPAM service whose pool holds the sample node's first pod ENI address only.
    func serving(configured: Bool, storeDirectory: String? = nil, _ body: (String) async throws -> Void) async throws {
        let directory = Scratch.path("chain")
        try AtomicFile.makeDirectory(directory, mode: 0o700)
        let store = PoolStore(path: (storeDirectory ?? directory) + "/ipam.json")
        let manager = try AddressManager(store: store, cooldownMilliseconds: 150_000, now: { Int64(Date().timeIntervalSince1970 * 1000) })
        if configured {
            var record = try SampleNode.record()
            record.enis = record.enis.filter { $0.deviceIndex < 2 }
            record.enis[1].secondaryIPs = [try IPv4Address(parsing: "10.0.1.1")]
            _ = try await manager.configure(record: record)
        }
        let socket = directory + "/run/ipam.sock"
        try AtomicFile.makeDirectory(directory + "/run", mode: 0o700)
        let server = try IPAMServer(socketPath: socket, services: [IPAMService(manager: manager, observer: nil), HealthService(manager: manager)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            try await eventually("the socket exists") { FileManager.default.fileExists(atPath: socket) }
            try await body(socket)
            server.stop()
            try await group.waitForAll()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Printed: Equatable {
        var exit: Int32
        /// The CNI error code printed; nil on success.
        var code: Int?
    }

    /// The plugin's exit status and printed CNI error code for one command.
    func plugin(_ command: String, socket: String, container: String, timeoutMilliseconds: Int = 3000,
                extra: String = "") async throws -> Printed {
        let environment = ["CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0",
                           "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1"]
        let config = "{\"cniVersion\":\"1.0.0\",\"name\":\"vpcnet\",\"type\":\"ptp\",\"ipam\":{\"type\":\"vpcnet-ipam\",\"socket\":\"\(socket)\","
            + "\"timeoutMilliseconds\":\(timeoutMilliseconds)}\(extra)}"
        let outcome = try await blocking { IPAMPlugin().run(environment: environment, stdin: Array(config.utf8)) }
        let printed = try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any]
        return Printed(exit: outcome.exitCode, code: printed?["code"] as? Int)
    }

    @Test func exhaustionIsResourceExhaustedThenCode100() async throws {
        try await serving(configured: true) { socket in
            #expect(try await plugin("ADD", socket: socket, container: "first") == Printed(exit: 0, code: nil))
            // PoolError.exhausted → RESOURCE_EXHAUSTED → CNI 100 (no free address).
            let second = try await plugin("ADD", socket: socket, container: "second")
            #expect(second == Printed(exit: 1, code: CNIError.Code.noFreeAddress.rawValue))
        }
    }

    @Test func anUnconfiguredPoolIsUnavailableThenCode11() async throws {
        try await serving(configured: false) { socket in
            // PoolError.notConfigured → UNAVAILABLE (repeated for the handover window) → CNI 11 (try again later).
            let printed = try await plugin("ADD", socket: socket, container: "first", timeoutMilliseconds: 400)
            #expect(printed == Printed(exit: 1, code: CNIError.Code.tryAgainLater.rawValue))
        }
    }

    @Test func anUnknownAttachmentIsNotFoundThenCode3() async throws {
        try await serving(configured: true) { socket in
            // CHECK of an attachment holding nothing → NOT_FOUND → CNI 3 (unknown container).
            let previous = ",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.1.1/20\"}]}"
            let printed = try await plugin("CHECK", socket: socket, container: "nobody", extra: previous)
            #expect(printed == Printed(exit: 1, code: CNIError.Code.unknownContainer.rawValue))
        }
    }

    @Test func aStateThatCannotBeSavedIsInternalThenCode101() async throws {
        // The state file's directory does not exist: the allocation cannot be persisted, so it is not made.
        try await serving(configured: true, storeDirectory: "/nonexistent-\(UUID().uuidString)") { socket in
            // INTERNAL → CNI 101 (the daemon refused).
            let printed = try await plugin("ADD", socket: socket, container: "first")
            #expect(printed == Printed(exit: 1, code: CNIError.Code.daemonRefused.rawValue))
        }
    }
}

/// Runs a blocking call (the plugin's client) on a thread of its own, so the server keeps being served.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
