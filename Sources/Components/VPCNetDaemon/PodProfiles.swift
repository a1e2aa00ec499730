import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import Synchronization
import VPCNetContracts
import VPCNetCore

/// Which NetworkProfile a pod selects, for an ADD.
public protocol PodProfileSource: Sendable {
    /// The profile named by the pod's `k8s-vpcnet/network-profile` annotation; nil when it has
    /// none. Throws when the pod cannot be learned (not cached and the API unreachable, or a
    /// different pod of that name).
    func profile(of pod: PodReference) async throws -> String?
    /// Says on the pod why its ADD was refused (a Warning Event); must not delay the answer.
    func refused(_ pod: PodReference, reason: String, message: String)
}

/// The pods of this node from a watch (`spec.nodeName=NODE`), so an ADD learns the pod's profile
/// without a request in the common case. The kubelet calls ADD after the pod is bound, so the
/// watch has usually delivered it already; when it has not, the pod is read once from the API
/// (an API that cannot be reached fails the ADD, which the runtime retries: guessing "no profile"
/// would put the pod in the wrong groups).
public final class PodProfiles: PodProfileSource {
    let informer: Informer<Pod>
    let kube: KubeClient
    let events: EventRecorder
    let logger: Logger
    /// Pods already told why (the runtime retries a failed ADD many times; one Event says it).
    private let told = Mutex<Set<String>>([])

    public init(kube: KubeClient, nodeName: String, logger: Logger) {
        self.kube = kube
        self.logger = logger
        informer = Informer<Pod>(client: kube, fieldSelector: "spec.nodeName=\(nodeName)", resyncPeriod: nil, logger: logger)
        events = EventRecorder(client: kube, component: "vpcnet-daemon", logger: logger)
    }

    public func run() async {
        await informer.run { event in
            if case .deleted(let pod) = event { self.told.withLock { _ = $0.remove(pod.uid ?? pod.name) } }
        }
    }

    public func profile(of reference: PodReference) async throws -> String? {
        let pod: Pod
        if let cached = informer.get("\(reference.namespace)/\(reference.name)"), reference.uid.isEmpty || cached.uid == reference.uid {
            pod = cached
        } else {
            let read: Result<Pod, KubeError>
            do { read = .success(try await kube.get(Pod.self, namespace: reference.namespace, name: reference.name)) } catch { read = .failure(error) }
            switch read {
            case .success(let found): pod = found
            // Not in the API (a runtime driven by hand, a static pod's sandbox before its mirror
            // pod): no annotation anyone could read, so the node's own addresses.
            case .failure(let error) where error.isNotFound: return nil
            case .failure(let error): throw error
            }
            guard reference.uid.isEmpty || pod.uid == reference.uid else {
                throw ConfigurationError("pod \(reference.namespace)/\(reference.name) has uid \(pod.uid ?? "none"), not \(reference.uid): it was replaced")
            }
        }
        return Self.profile(of: pod)
    }

    /// The annotation's value, trimmed; an empty one selects no profile.
    static func profile(of pod: Pod) -> String? {
        guard let value = pod.annotations[WellKnown.Annotations.networkProfile]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            return nil
        }
        return value
    }

    public func refused(_ reference: PodReference, reason: String, message: String) {
        guard !reference.name.isEmpty, told.withLock({ $0.insert(reference.uid.isEmpty ? reference.name : reference.uid).inserted }) else { return }
        Task {
            guard let pod = try? await kube.get(Pod.self, namespace: reference.namespace, name: reference.name) else { return }
            await events.record(pod, .warning, reason: reason, message: message)
        }
    }
}
