import Kubernetes
import VPCNetCore

/// An `apiextensions.k8s.io/v1` CustomResourceDefinition, held whole.
struct CustomResourceDefinition: KubeObject {
    static let apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition", resource = "customresourcedefinitions"
    static let namespaced = false
    var raw: JSONValue
    init(raw: JSONValue) { self.raw = raw }
}

extension CustomResources {
    /// Creates deploy/'s definitions (``definitions``, generated from deploy/base), as installing
    /// vpcnet does; one that exists already is left as it is.
    static func install(_ kube: KubeClient) async throws {
        for text in definitions {
            let definition = CustomResourceDefinition(raw: try JSONValue(parsing: Array(text.utf8)))
            let result: Result<CustomResourceDefinition, KubeError>
            do { result = .success(try await kube.create(definition)) } catch { result = .failure(error) }
            if case .failure(let error) = result, !error.isConflict { throw error }
        }
    }
}
