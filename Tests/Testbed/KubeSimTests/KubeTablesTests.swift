import Foundation
@testable import KubeSim
import Testing
import VPCNetCore

/// Server-side printing as `kubectl get` receives it.
@Suite struct KubeTablesTests {
    @Test func onlyAClientThatAsksForATableFirstGetsOne() {
        #expect(KubeTables.wantsTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"))
        #expect(!KubeTables.wantsTable("application/json") && !KubeTables.wantsTable(nil))
    }

    @Test func podsPrintReadyStatusAndAgeAndWideColumnsHavePriorityOne() throws {
        let now = try Date("2026-12-04T12:00:00Z", strategy: .iso8601)
        let pod: JSONValue = ["metadata": ["name": "web-0", "creationTimestamp": "2026-12-04T11:56:30Z"],
                              "spec": ["nodeName": "n1", "containers": [["name": "a"]]],
                              "status": ["phase": "Running", "podIP": "10.0.0.5", "conditions": [["type": "Ready", "status": "True"]]]]
        let table = KubeTables.table(resource: "pods", objects: [pod], listMetadata: ["resourceVersion": "7"], includeObject: nil, now: now)
        let columns = (table["columnDefinitions"]?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "", $0["priority"] == 1) }
        #expect(columns.prefix(5).map(\.0) == ["Name", "Ready", "Status", "Restarts", "Age"] && columns.prefix(5).allSatisfy { !$0.1 })
        #expect(columns.dropFirst(5).allSatisfy { $0.1 })
        let cells = table["rows"]?.arrayValue?.first?["cells"]?.arrayValue ?? []
        #expect(Array(cells.prefix(7)) == ["web-0", "1/1", "Running", "0", "3m30s", "10.0.0.5", "n1"] as [JSONValue])
        #expect(table["rows"]?.arrayValue?.first?.value(at: "object.kind") == "PartialObjectMetadata")
        let unprinted = KubeTables.table(resource: "leases", objects: [pod], listMetadata: [:], includeObject: "None", now: now)
        #expect((unprinted["columnDefinitions"]?.arrayValue ?? []).map { $0["name"] } == ["Name", "Created At"])
    }

    @Test func agesReadAsKubectlPrintsThem() throws {
        let now = try Date("2026-12-04T12:00:00Z", strategy: .iso8601)
        func age(_ seconds: Int) -> String {
            let created = now.addingTimeInterval(-Double(seconds)).formatted(Date.ISO8601FormatStyle())
            return KubeTables.humanAge(["metadata": ["creationTimestamp": .string(created)]], now)
        }
        #expect([age(45), age(119), age(192), age(600), age(7200), age(30_000), age(86_400 * 3 + 3600), age(86_400 * 30)]
            == ["45s", "119s", "3m12s", "10m", "120m", "8h", "3d1h", "30d"])
    }
}
