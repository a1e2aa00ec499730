import Foundation
import Kubernetes
import Logging
import Synchronization
import VPCNetCore

/// Records Kubernetes Events about objects, as client-go's recorder does in spirit: an event
/// repeated within `window` bumps the first one's `count` and `lastTimestamp` instead of creating
/// another object, so a retrying controller does not flood the API. Failures are logged, never
/// thrown: Events are for people, and must not stop the work they describe.
public final class EventRecorder: Sendable {
    public let client: KubeClient
    public let component: String
    let window: Duration
    let logger: Logger
    private let recent = Mutex<[String: (name: String, namespace: String, count: Int, at: ContinuousClock.Instant)]>([:])

    public init(client: KubeClient, component: String, window: Duration = .seconds(600),
                logger: Logger = Logger(label: "vpcnet.events")) {
        self.client = client
        self.component = component
        self.window = window
        self.logger = logger
    }

    public func record<Object: KubeObject>(_ object: Object, _ type: Event.EventType, reason: String, message: String) async {
        let key = "\(Object.kind)/\(object.namespace ?? "")/\(object.name)/\(object.uid ?? "")/\(reason)/\(message)"
        let now = ContinuousClock.now
        let time = ISO8601DateFormatter().string(from: Date())
        let repeated = recent.withLock { recent -> (name: String, namespace: String, count: Int)? in
            recent = recent.filter { now - $0.value.at < window }
            guard var entry = recent[key] else { return nil }
            entry.count += 1
            entry.at = now
            recent[key] = entry
            return (entry.name, entry.namespace, entry.count)
        }
        do {
            if let repeated {
                _ = try await client.patch(Event.self, namespace: repeated.namespace, name: repeated.name, .merge,
                                           ["count": .int(Int64(repeated.count)), "lastTimestamp": .string(time)])
                return
            }
            let suffix = String(UInt64.random(in: 0..<UInt64(1) << 40), radix: 16)
            let event = Event(about: object, type: type, reason: reason, message: message, component: component,
                              name: "\(object.name).\(suffix)", time: time)
            let created = try await client.create(event)
            recent.withLock { $0[key] = (created.name, created.namespace ?? "default", 1, now) }
        } catch {
            if repeated != nil { recent.withLock { _ = $0.removeValue(forKey: key) } }
            logger.warning("recording an event failed", metadata: ["reason": "\(reason)", "object": "\(object.name)", "error": "\(error)"])
        }
    }
}
