import ControllerRuntime
import Foundation
import IPAM
import Kubernetes
import Logging
import Synchronization
import VPCNetContracts
import VPCNetCore

/// Optionally deletes a pod whose ADD failed for lack of addresses when a controller owns it (it
/// is recreated and, with the node tainted, scheduled elsewhere); says so in an Event either way.
public final class PodRescheduler: Sendable {
    let kube: KubeClient
    let events: EventRecorder
    let deletePods: Bool
    let logger: Logger
    private let handled = Mutex<Set<String>>([])

    public init(kube: KubeClient, deletePods: Bool, logger: Logger) {
        self.kube = kube
        self.deletePods = deletePods
        self.logger = logger
        events = EventRecorder(client: kube, component: "vpcnet-daemon", logger: logger)
    }

    func podHasNoAddress(_ reference: PodReference) async {
        guard !reference.name.isEmpty, !reference.namespace.isEmpty else { return }
        let pod: Pod
        do { pod = try await kube.get(Pod.self, namespace: reference.namespace, name: reference.name) } catch { return }
        guard reference.uid.isEmpty || pod.uid == reference.uid else { return }
        let ownedByController = (pod.raw.value(at: "metadata.ownerReferences")?.arrayValue ?? []).contains { $0["controller"] == .bool(true) }
        guard deletePods, ownedByController else {
            await events.record(pod, .warning, reason: "NoFreeAddress", message:
                "no free pod address on node \(pod.nodeName ?? "?"); " + (deletePods ? "not deleted: no controller owns this pod" : "pod deletion is off"))
            return
        }
        // One deletion per pod (the runtime retries ADD many times).
        guard handled.withLock({ $0.insert(pod.uid ?? pod.name).inserted }) else { return }
        do {
            try await kube.delete(Pod.self, namespace: reference.namespace, name: reference.name, uid: pod.uid)
            await events.record(pod, .warning, reason: "Rescheduled", message:
                "deleted: no free pod address on node \(pod.nodeName ?? "?"); its controller creates a replacement elsewhere")
            logger.notice("deleted a pod that got no address", metadata: ["pod": "\(reference.namespace)/\(reference.name)"])
        } catch {
            handled.withLock { _ = $0.remove(pod.uid ?? pod.name) }
            logger.warning("cannot delete a pod that got no address", metadata: ["pod": "\(reference.namespace)/\(reference.name)", "error": "\(error)"])
        }
    }
}
