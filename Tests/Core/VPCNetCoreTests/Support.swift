import Foundation

/// JSON encode then decode, the way the node record travels through the API.
enum JSONRoundTrip {
    static func roundTrip<T: Codable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
    }
}
