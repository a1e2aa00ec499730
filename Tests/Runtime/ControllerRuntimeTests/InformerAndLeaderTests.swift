import ControllerRuntime
import Kubernetes
@testable import KubeSim
import Synchronization
import Testing
import TestSupport
import VPCNetCore

@Suite struct InformerTests {
    @Test func convergesThroughListErrorsDroppedWatchesAnd410s() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let client = try KubeClient(connection: server.connection())
        try await withTeardown({
            for i in 0..<3 { _ = try await client.create(Node(name: "node-\(i)")) }

            let events = Mutex<[String]>([])
            let informer = Informer<Node>(client: client, resyncPeriod: nil, backoff: Backoff(base: .milliseconds(10), cap: .milliseconds(100)))
            server.api.faults.inject(.status(code: 500), verb: "list", resource: "nodes", count: 2)
            let running = Task {
                await informer.run { event in
                    let name: String
                    switch event {
                    case .added(let node): name = "added:\(node.name)"
                    case .updated(_, let node): name = "updated:\(node.name)"
                    case .deleted(let node): name = "deleted:\(node.name)"
                    case .resync(let node): name = "resync:\(node.name)"
                    }
                    events.withLock { $0.append(name) }
                }
            }
            defer { running.cancel() }
            await informer.waitForSync()
            #expect(Set(informer.list().map(\.name)) == ["node-0", "node-1", "node-2"], "synced despite two failed lists")

            _ = try await client.patch(Node.self, name: "node-0", .merge, ["metadata": ["labels": ["seen": "yes"]]])
            try await eventually("the label reaches the cache") { informer.get("node-0")?.labels["seen"] == "yes" }

            // The watch is dropped and cannot be re-established for a while; meanwhile a node goes,
            // another comes, and the history the informer would resume from is compacted away.
            server.api.faults.inject(.status(code: 500), verb: "watch", resource: "nodes", count: 1_000_000)
            server.api.store.closeWatches()
            try await client.delete(Node.self, name: "node-1")
            _ = try await client.create(Node(name: "node-3"))
            server.api.store.compact(through: server.api.store.currentRevision)
            let refused = server.api.faults.served
            try await eventually("the informer tried to watch again, twice") { server.api.faults.served >= refused + 2 }
            #expect(informer.get("node-1") != nil, "still disconnected: the deletion has not been seen")
            server.api.faults.clear()

            try await eventually("the cache matches the API again") { Set(informer.list().map(\.name)) == ["node-0", "node-2", "node-3"] }
            let seen = events.withLock { $0 }
            #expect(seen.contains("deleted:node-1"), "a deletion missed while disconnected is reported from the relist")
            #expect(seen.contains("added:node-3") && seen.contains("updated:node-0"))
            #expect(seen.filter { $0 == "added:node-0" }.count == 1, "relisting does not re-announce unchanged objects")
        }, teardown: { try? await client.shutdown(); await server.stop() })
    }

    @Test func resyncOffersEveryObjectAgain() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let client = try KubeClient(connection: server.connection())
        try await withTeardown({
            _ = try await client.create(Node(name: "only"))
            let resyncs = Atomic<Int>(0)
            let informer = Informer<Node>(client: client, resyncPeriod: .milliseconds(50))
            let running = Task {
                await informer.run { event in if case .resync = event { resyncs.add(1, ordering: .relaxed) } }
            }
            defer { running.cancel() }
            try await eventually("two resyncs") { resyncs.load(ordering: .relaxed) >= 2 }
        }, teardown: { try? await client.shutdown(); await server.stop() })
    }
}

/// Who is doing leader-only work, and whether two ever were at once.
final class WorkTracker: Sendable {
    private let state = Mutex<(working: Set<String>, overlapped: Bool)>(([], false))
    var working: Set<String> { state.withLock { $0.working } }
    var overlapped: Bool { state.withLock { $0.overlapped } }

    func work(_ id: String) -> @Sendable () async throws -> Void {
        { [self] in
            state.withLock { state in
                state.working.insert(id)
                if state.working.count > 1 { state.overlapped = true }
            }
            defer { state.withLock { _ = $0.working.remove(id) } }
            try await Task.sleep(for: .seconds(3600))
        }
    }
}

@Suite struct LeaderElectionTests {
    static func configuration(_ identity: String) -> LeaderElector.Configuration {
        .init(namespace: "kube-system", name: "vpcnet-test", identity: identity, leaseDuration: .seconds(2),
              renewDeadline: .seconds(1), retryPeriod: .milliseconds(100))
    }

    @Test func oneLeaderAtATimeHandOverOnReleaseAndStopOnLoss() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let clientA = try KubeClient(connection: server.connection()), clientB = try KubeClient(connection: server.connection())
        try await withTeardown({
            let a = LeaderElector(client: clientA, configuration: Self.configuration("a"))
            let b = LeaderElector(client: clientB, configuration: Self.configuration("b"))

            let tracker = WorkTracker()
            let runA = Task { try await a.run(tracker.work("a")) }
            try await eventually("a leads") { tracker.working == ["a"] }
            let runB = Task { try await b.run(tracker.work("b")) }
            try await eventually("b tried to take the Lease, three times") { b.attempts >= 3 }
            #expect(!b.isLeader && tracker.working == ["a"], "b waits while a renews")

            // a shuts down: it releases the Lease, so b takes over well before the lease would expire.
            runA.cancel()
            await #expect(throws: CancellationError.self) { try await runA.value }
            try await eventually("b leads", seconds: 1.5) { tracker.working == ["b"] }
            let lease = try await clientA.get(Lease.self, namespace: "kube-system", name: "vpcnet-test")
            #expect(lease.holderIdentity == "b" && lease.leaseTransitions == 1, "created by a (0), taken by b (1)")

            // b can no longer renew: after the renew deadline it stops its work and reports the loss.
            server.api.faults.inject(.status(code: 500), verb: "update", resource: "leases", count: 10_000)
            await #expect(throws: LeaderElectionError.lost) { try await runB.value }
            #expect(tracker.working.isEmpty)
            #expect(!tracker.overlapped, "never two leaders working at once")
        }, teardown: { try? await clientA.shutdown(); try? await clientB.shutdown(); await server.stop() })
    }

    @Test func anAbandonedLeaseIsTakenAfterItExpires() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let client = try KubeClient(connection: server.connection())
        try await withTeardown({
            // A leader that crashed without releasing: its record never changes again.
            _ = try await client.create(Lease(raw: ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                    "metadata": ["name": "vpcnet-test", "namespace": "kube-system"],
                                                    "spec": ["holderIdentity": "crashed", "leaseDurationSeconds": 1,
                                                             "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 4]]))
            let elector = LeaderElector(client: client, configuration: Self.configuration("standby"))
            let start = ContinuousClock.now
            let run = Task { try await elector.run { try await Task.sleep(for: .seconds(3600)) } }
            defer { run.cancel() }
            try await eventually("the standby leads") { elector.isLeader }
            #expect(ContinuousClock.now - start >= .seconds(1), "not before the holder's lease duration has passed unrenewed")
            let lease = try await client.get(Lease.self, namespace: "kube-system", name: "vpcnet-test")
            #expect(lease.holderIdentity == "standby" && lease.leaseTransitions == 5)
        }, teardown: { try? await client.shutdown(); await server.stop() })
    }

    @Test func badTimingsAreRefused() async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let client = try KubeClient(connection: server.connection())
        try await withTeardown({
            var configuration = Self.configuration("x")
            configuration.renewDeadline = .seconds(5)
            await #expect(throws: LeaderElectionError.self) { try await LeaderElector(client: client, configuration: configuration).run {} }
        }, teardown: { try? await client.shutdown(); await server.stop() })
    }
}
