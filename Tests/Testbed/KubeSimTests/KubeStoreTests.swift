import Kubernetes
@testable import KubeSim
import Testing
import VPCNetCore

@Suite struct KubeStoreTests {
    func node(_ name: String, labels: [String: String] = [:]) -> JSONValue {
        var node = Node(name: name)
        node.labels = labels
        return node.raw
    }

    @Test func createGetListUpdateDelete() throws {
        let store = KubeStore()
        let created = try store.create("nodes", namespace: nil, object: node("a", labels: ["zone": "a"]))
        #expect(created.value(at: "metadata.resourceVersion") == "1" && created.value(at: "metadata.uid") != nil)
        #expect(throws: KubeStatusError.self) { try store.create("nodes", namespace: nil, object: node("a")) }
        _ = try store.create("nodes", namespace: nil, object: node("b", labels: ["zone": "b"]))
        _ = try store.create("pods", namespace: "default", object: Pod(name: "p", namespace: "default").raw)

        #expect(try store.get("nodes", namespace: nil, name: "a") == created)
        #expect(throws: KubeStatusError.notFound("nodes", "zzz")) { try store.get("nodes", namespace: nil, name: "zzz") }
        let all = try store.list("nodes", namespace: nil)
        #expect(all.items.count == 2 && all.revision == 3)
        let zoneB = try store.list("nodes", namespace: nil, labelSelector: LabelSelector(parsing: "zone=b"))
        #expect(zoneB.items.map { $0.value(at: "metadata.name") } == ["b"])
        let named = try store.list("nodes", namespace: nil, fieldSelector: FieldSelector(parsing: "metadata.name=a"))
        #expect(named.items.count == 1)
        #expect(try store.list("pods", namespace: "kube-system").items.isEmpty)

        // Optimistic concurrency: a stale resourceVersion is a 409 Conflict.
        var stale = created
        stale["metadata"]?["labels"] = ["zone": "c"]
        let updated = try store.update("nodes", namespace: nil, name: "a", object: stale)
        #expect(updated.value(at: "metadata.resourceVersion") == "4" && updated.value(at: "metadata.uid") == created.value(at: "metadata.uid"))
        #expect(throws: KubeStatusError.conflict("nodes", "a")) { try store.update("nodes", namespace: nil, name: "a", object: stale) }

        // A change to nothing stores nothing.
        let same = try store.update("nodes", namespace: nil, name: "a", object: updated)
        #expect(same == updated && store.currentRevision == 4)

        #expect(throws: KubeStatusError.self) {
            try store.delete("nodes", namespace: nil, name: "a", preconditionResourceVersion: "1")
        }
        _ = try store.delete("nodes", namespace: nil, name: "a", preconditionUID: created.value(at: "metadata.uid")?.stringValue)
        #expect(throws: KubeStatusError.self) { try store.get("nodes", namespace: nil, name: "a") }
        #expect(throws: KubeStatusError.self) { try store.create("nodes", namespace: nil, object: ["metadata": [:]]) }
    }

    @Test func listPagesWithContinueTokens() throws {
        let store = KubeStore()
        for i in 0..<25 { _ = try store.create("nodes", namespace: nil, object: node("node-\(String(format: "%02d", i))")) }
        var names: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try store.list("nodes", namespace: nil, limit: 10, continueToken: token)
            names += page.items.compactMap { $0.value(at: "metadata.name")?.stringValue }
            token = page.continueToken
            pages += 1
            // Deleting an already listed node between pages skips nothing.
            if pages == 1 { _ = try store.delete("nodes", namespace: nil, name: "node-03") }
        } while token != nil
        #expect(pages == 3)
        #expect(names == (0..<25).map { "node-\(String(format: "%02d", $0))" })
    }

    @Test func watchesReplayHistoryThenFollowLiveChanges() async throws {
        let store = KubeStore()
        _ = try store.create("nodes", namespace: nil, object: node("a"))
        let revision = store.currentRevision
        _ = try store.create("nodes", namespace: nil, object: node("b"))
        _ = try store.create("pods", namespace: "default", object: Pod(name: "p", namespace: "default").raw)
        let stream = try store.watch("nodes", namespace: nil, from: revision)
        _ = try store.mutate("nodes", namespace: nil, name: "a") { object in
            var object = object
            object["metadata"]?["labels"] = ["x": "y"]
            return object
        }
        _ = try store.delete("nodes", namespace: nil, name: "b")
        var seen: [String] = []
        for await event in stream {
            seen.append("\(event.kind.rawValue) \(event.object.value(at: "metadata.name")?.stringValue ?? "")")
            if seen.count == 3 { break }
        }
        #expect(seen == ["ADDED b", "MODIFIED a", "DELETED b"])
    }

    @Test func compactedVersionsAreGone() throws {
        let store = KubeStore(historyLimit: 3)
        for i in 0..<6 { _ = try store.create("nodes", namespace: nil, object: node("n\(i)")) }
        #expect(throws: KubeStatusError.self) { try store.watch("nodes", namespace: nil, from: 1) }
        do {
            _ = try store.watch("nodes", namespace: nil, from: 1)
        } catch {
            #expect(error.code == 410 && error.status.value(at: "reason") == "Expired")
        }
        _ = try store.watch("nodes", namespace: nil, from: 3)  // events 4...6 are still there
        store.compact(through: 6)
        #expect(throws: KubeStatusError.self) { try store.watch("nodes", namespace: nil, from: 4) }
        _ = try store.watch("nodes", namespace: nil, from: 6)  // nothing missing: up to date
    }

    @Test func closedWatchesEnd() async throws {
        let store = KubeStore()
        let stream = try store.watch("nodes", namespace: nil, from: nil)
        store.closeWatches()
        var count = 0
        for await _ in stream { count += 1 }
        #expect(count == 0)
    }

    @Test func watchesFilterBySelectorsAndStartWithTheCurrentState() async throws {
        let store = KubeStore()
        _ = try store.create("nodes", namespace: nil, object: node("a", labels: ["zone": "a"]))
        _ = try store.create("nodes", namespace: nil, object: node("b", labels: ["zone": "b"]))
        // Without a resourceVersion: synthetic ADDED for what exists, then live changes; selectors apply to both.
        let stream = try store.watch("nodes", namespace: nil, from: nil, labelSelector: LabelSelector(parsing: "zone=b"))
        _ = try store.create("nodes", namespace: nil, object: node("c", labels: ["zone": "a"]))
        _ = try store.create("nodes", namespace: nil, object: node("d", labels: ["zone": "b"]))
        var names: [String] = []
        for await event in stream {
            names.append(event.object.value(at: "metadata.name")?.stringValue ?? "")
            if names.count == 2 { break }
        }
        #expect(names == ["b", "d"])
        #expect(throws: KubeStatusError.self, "a resourceVersion from the future") {
            try store.watch("nodes", namespace: nil, from: store.currentRevision + 10)
        }
    }

    @Test func bookmarksQueueBehindEvents() async throws {
        let store = KubeStore()
        let stream = try store.watch("nodes", namespace: nil, from: store.currentRevision, kind: "Node", apiVersion: "v1",
                                     bookmarkInterval: .milliseconds(20))
        _ = try store.create("nodes", namespace: nil, object: node("a"))
        var sawEvent = false
        for await event in stream {
            if event.kind == .added { sawEvent = true; continue }
            #expect(event.kind == .bookmark && event.object["kind"] == "Node" && event.object["apiVersion"] == "v1")
            #expect(sawEvent, "a bookmark never overtakes an event queued before it")
            #expect(event.resourceVersion >= 1)
            break
        }
    }

    @Test func oversizedObjectsAreRefused() throws {
        let store = KubeStore()
        var big = ConfigMap(name: "big", namespace: "default")
        big.data = ["blob": String(repeating: "x", count: KubeStore.maxObjectBytes)]
        #expect(throws: KubeStatusError.self) { try store.create("configmaps", namespace: "default", object: big.raw) }
    }
}
