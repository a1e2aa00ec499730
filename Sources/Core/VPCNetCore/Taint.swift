/// A Kubernetes taint (`key[=value]:effect`).
public struct Taint: Hashable, Codable, Sendable, CustomStringConvertible {
    public enum Effect: String, Codable, Sendable, CaseIterable {
        case noSchedule = "NoSchedule"
        case preferNoSchedule = "PreferNoSchedule"
        case noExecute = "NoExecute"
    }

    public var key: String
    public var value: String?
    public var effect: Effect

    public init(key: String, value: String? = nil, effect: Effect) {
        self.key = key
        self.value = value
        self.effect = effect
    }

    /// The form `kubectl taint` takes: `key=value:Effect` or `key:Effect`.
    public var description: String {
        if let value, !value.isEmpty { return "\(key)=\(value):\(effect.rawValue)" }
        return "\(key):\(effect.rawValue)"
    }
}
