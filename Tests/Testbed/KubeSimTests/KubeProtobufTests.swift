import Foundation
@testable import KubeSim
import Testing
import VPCNetCore

// The protobuf wire format, written here by hand, as kubectl's generators send it.
private func varint(_ value: UInt64) -> [UInt8] {
    var value = value, bytes: [UInt8] = []
    repeat {
        bytes.append(UInt8(value & 0x7f) | (value >= 0x80 ? 0x80 : 0))
        value >>= 7
    } while value != 0
    return bytes
}
private func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] { varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes }
private func field(_ number: Int, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }
private func number(_ number: Int, _ value: Int64) -> [UInt8] { varint(UInt64(number << 3)) + varint(UInt64(bitPattern: value)) }
private func entry(_ number: Int, _ key: String, _ value: String) -> [UInt8] { field(number, field(1, key) + field(2, value)) }

private func envelope(apiVersion: String, kind: String, _ raw: [UInt8]) -> [UInt8] {
    KubeProtobuf.magic + field(1, field(1, apiVersion) + field(2, kind)) + field(2, raw) + field(3, "") + field(4, "")
}

@Suite struct KubeProtobufTests {
    @Test func aDeploymentDecodesWithGoSemanticsForZerosPointersAndSpecialTypes() throws {
        // As gogo writes it: every value field, even empty; pointers only when set.
        let metadata = field(1, "web") + field(2, "") + field(3, "") + entry(11, "app", "web") + field(8, [])
        let container = field(1, "app") + field(2, "agnhost") + field(6, number(3, 8080) + field(4, "TCP")) + field(8, []) + field(13, "") + number(16, 0)
        let template = field(1, field(1, "") + entry(11, "app", "web")) + field(2, field(2, container) + field(3, "") + number(11, 0))
        let rolling = field(1, number(1, 1) + field(3, "25%")) + field(2, number(1, 0) + number(2, 1))
        let spec = number(1, 0) + field(2, entry(1, "app", "web")) + field(3, template) + field(4, field(1, "RollingUpdate") + field(2, rolling))
            + number(5, 0) + number(7, 0)
        let status = field(6, field(1, "Available") + field(2, "True") + field(6, number(1, 1_764_849_600)))
        let decoded = try KubeProtobuf.decode(envelope(apiVersion: "apps/v1", kind: "Deployment", field(1, metadata) + field(2, spec) + field(3, status)))
        #expect(decoded["kind"] == "Deployment" && decoded["apiVersion"] == "apps/v1")
        #expect(decoded["metadata"] == ["name": "web", "labels": ["app": "web"]], "empty strings and a zero time are left out")
        #expect(decoded.value(at: "spec.replicas") == 0, "a pointer set to zero is kept")
        #expect(decoded.value(at: "spec.minReadySeconds") == nil && decoded.value(at: "spec.paused") == nil)
        #expect(decoded.value(at: "spec.strategy.rollingUpdate") == ["maxUnavailable": "25%", "maxSurge": 1], "IntOrString as a string and a number")
        #expect(decoded.value(at: "spec.template.spec.containers") == [["name": "app", "image": "agnhost", "ports": [["containerPort": 8080, "protocol": "TCP"]],
                                                                       "resources": [:]]], "structs stay, even empty")
        #expect(decoded.value(at: "status.conditions")?.arrayValue?.first?["lastUpdateTime"] == "2025-12-04T12:00:00Z")
    }

    @Test func mapsOfBytesAreBase64AndInlineStructsFlatten() throws {
        let configMap = field(1, field(1, "c")) + entry(2, "mode", "fast") + field(3, field(1, "blob") + field(2, [0, 1, 2]))
        let decoded = try KubeProtobuf.decode(envelope(apiVersion: "v1", kind: "ConfigMap", configMap))
        #expect(decoded["data"] == ["mode": "fast"] && decoded["binaryData"] == ["blob": "AAEC"])
        let volume = field(1, "config") + field(2, field(19, field(1, field(1, "settings"))))
        let pod = field(1, field(1, "p")) + field(2, field(1, volume) + field(2, field(1, "a")))
        let decodedPod = try KubeProtobuf.decode(envelope(apiVersion: "v1", kind: "Pod", pod))
        #expect(decodedPod.value(at: "spec.volumes") == [["name": "config", "configMap": ["name": "settings"]]])
    }

    @Test func whatTheSchemaDoesNotHoldIsAClearErrorNotADroppedField() {
        #expect(throws: KubeProtobuf.DecodingError.self) { try KubeProtobuf.decode(Array("{\"kind\":\"Pod\"}".utf8)) }
        #expect((try? KubeProtobuf.decode(envelope(apiVersion: "batch/v1", kind: "Job", []))) == nil)
        do {
            _ = try KubeProtobuf.decode(envelope(apiVersion: "v1", kind: "ConfigMap", field(1, field(99, "x"))))
            Issue.record("an unknown field was accepted")
        } catch {
            #expect(error.description == "field 99 of ObjectMeta is not one the simulator decodes: send the object as JSON")
        }
        #expect((try? KubeProtobuf.decode(envelope(apiVersion: "v1", kind: "ConfigMap", [0x0a, 0x05, 0x0a]))) == nil, "cut short")
    }

    @Test func theAPIAnswersAProtobufCreateAndRefusesWhatItCannotRead() async {
        let api = KubeAPI(store: KubeStore())
        let namespace = envelope(apiVersion: "v1", kind: "Namespace", field(1, field(1, "team")) + field(2, []) + field(3, []))
        let reply = await api.handle(method: "POST", path: "/api/v1/namespaces", query: [:], contentType: "application/vnd.kubernetes.protobuf", body: namespace)
        guard case .object(201, let created) = reply else { Issue.record("\(reply)"); return }
        #expect(created.value(at: "status.phase") == "Active" && created.value(at: "metadata.name") == "team")
        let job = envelope(apiVersion: "v1", kind: "Job", [])
        guard case .object(415, let refused) = await api.handle(method: "POST", path: "/api/v1/namespaces", query: [:],
                                                               contentType: "application/vnd.kubernetes.protobuf", body: job) else {
            Issue.record("not refused"); return
        }
        let message = refused["message"]?.stringValue ?? ""
        #expect(message.contains("send it as JSON"))
    }
}
