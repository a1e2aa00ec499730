import Kubernetes
import VPCNetCore
@testable import KubeSim
import Testing

/// vpcnet's Kubernetes client against the API simulator over HTTP.
@Suite struct KubeClientTests {
    func withServer(_ body: (KubeAPIServer, KubeClient) async throws -> Void) async throws {
        let server = try await KubeAPIServer.start(KubeAPI(store: KubeStore()), host: "127.0.0.1", port: 0)
        let client = try KubeClient(connection: KubeConnection(server: server.url, token: "test"))
        do {
            try await body(server, client)
        } catch {
            try? await client.shutdown()
            await server.stop()
            throw error
        }
        try await client.shutdown()
        await server.stop()
    }

    @Test func crudPatchAndConflicts() async throws {
        try await withServer { server, client in
            for i in 0..<5 {
                var node = Node(name: "node-\(i)")
                node.labels = ["zone": i % 2 == 0 ? "a" : "b"]
                _ = try await client.create(node)
            }
            let all = try await client.list(Node.self, pageSize: 2)
            #expect(all.items.map(\.name) == (0..<5).map { "node-\($0)" }, "three pages followed")
            #expect(try await client.list(Node.self, labelSelector: "zone=b").items.map(\.name) == ["node-1", "node-3"])
            do throws(KubeError) {
                _ = try await client.get(Node.self, name: "missing")
                Issue.record("found a missing node")
            } catch { #expect(error.isNotFound) }

            // Two injected conflicts: the read–modify–write loop re-reads and wins on the third try.
            server.api.faults.inject(.status(code: 409), verb: "update", resource: "nodes", count: 2)
            let updated = try await client.update(Node.self, name: "node-0") { node in
                node.addTaint(Taint(key: "k8s-vpcnet/no-free-ips", effect: .noSchedule))
            }
            #expect(updated.taints.map(\.key) == ["k8s-vpcnet/no-free-ips"])
            let unchanged = try await client.update(Node.self, name: "node-0") { node in
                node.addTaint(Taint(key: "k8s-vpcnet/no-free-ips", effect: .noSchedule))
            }
            #expect(unchanged.resourceVersion == updated.resourceVersion, "no change, no write")

            // A stale replace is a typed conflict.
            var stale = updated
            stale.labels["x"] = "1"
            _ = try await client.patch(Node.self, name: "node-0", .merge, ["metadata": ["labels": ["y": "2"]]])
            do throws(KubeError) {
                _ = try await client.replace(stale)
                Issue.record("a stale replace succeeded")
            } catch { #expect(error.isConflict) }

            _ = try await client.patch(Node.self, name: "node-0", .json, [["op": "add", "path": "/metadata/labels/j", "value": "3"]])
            let patched = try await client.patch(Node.self, name: "node-0", .strategic, ["metadata": ["labels": ["s": "4"]]])
            #expect(patched.labels == ["zone": "a", "y": "2", "j": "3", "s": "4"])

            do throws(KubeError) {
                try await client.delete(Node.self, name: "node-0", resourceVersion: "1")
                Issue.record("deleted despite a stale precondition")
            } catch { #expect(error.isConflict) }
            try await client.delete(Node.self, name: "node-0", uid: patched.uid)
            #expect(try await client.list(Node.self).items.count == 4)
        }
    }

    @Test func watchesDeliverChangesAndReportGone() async throws {
        try await withServer { server, client in
            let start = try await client.list(Pod.self, namespace: "default").resourceVersion
            let events = client.watch(Pod.self, namespace: "default", resourceVersion: start, timeoutSeconds: 30, bookmarks: false)
            _ = try await client.create(Pod(name: "web", namespace: "default"))
            _ = try await client.patch(Pod.self, namespace: "default", name: "web", .merge, ["metadata": ["labels": ["a": "b"]]])
            try await client.delete(Pod.self, namespace: "default", name: "web")
            var seen: [String] = []
            for try await event in events {
                switch event {
                case .added(let pod): seen.append("added \(pod.name)")
                case .modified(let pod): seen.append("modified \(pod.labels)")
                case .deleted(let pod): seen.append("deleted \(pod.name)")
                case .bookmark: continue
                }
                if seen.count == 3 { break }
            }
            #expect(seen == ["added web", "modified [\"a\": \"b\"]", "deleted web"])

            // The server ending watches ends the stream; resuming from before a compaction is 410.
            let live = client.watch(Pod.self, namespace: "default", resourceVersion: start, timeoutSeconds: 30, bookmarks: false)
            var iterator = live.makeAsyncIterator()
            _ = try await iterator.next()  // the replayed ADDED
            server.api.store.closeWatches()
            var remaining = 0
            while try await iterator.next() != nil { remaining += 1 }
            #expect(remaining == 2, "the queued replay is delivered, then the stream ends")
            server.api.store.compact(through: server.api.store.currentRevision)
            do {
                for try await _ in client.watch(Pod.self, namespace: "default", resourceVersion: start) {}
                Issue.record("a compacted resourceVersion was accepted")
            } catch let error as KubeError {
                #expect(error.isGone)
            }
        }
    }
}
