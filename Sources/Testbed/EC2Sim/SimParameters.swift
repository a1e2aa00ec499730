import VPCNetCore

/// The decoded form parameters of one Query API request, with EC2's list conventions.
struct SimParameters {
    let values: [String: String]

    init(_ pairs: [(String, String)]) {
        var values: [String: String] = [:]
        for (key, value) in pairs { values[key] = value }
        self.values = values
    }

    subscript(_ name: String) -> String? { values[name] }

    func required(_ name: String) throws(SimError) -> String {
        guard let value = values[name], !value.isEmpty else { throw .missing(name) }
        return value
    }

    func int(_ name: String) throws(SimError) -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text) else { throw .invalid("Value (\(text)) for parameter \(name) is invalid. Expected an integer.") }
        return value
    }

    func bool(_ name: String) throws(SimError) -> Bool? {
        guard let text = values[name] else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw .invalid("Value (\(text)) for parameter \(name) is invalid. Expected a boolean.")
        }
    }

    /// `Name.1`, `Name.2`, … in index order.
    func list(_ name: String) -> [String] {
        indexed(name).compactMap { values["\(name).\($0)"] }
    }

    /// The distinct indexes N of keys `Name.N` or `Name.N.*`, ascending.
    func indexed(_ name: String) -> [Int] {
        let prefix = name + "."
        var indexes = Set<Int>()
        for key in values.keys where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            if let index = Int(rest.prefix { $0 != "." }) { indexes.insert(index) }
        }
        return indexes.sorted()
    }

    func addresses(_ name: String) throws(SimError) -> [IPv4Address] {
        var result: [IPv4Address] = []
        for text in list(name) {
            guard let address = IPv4Address(text) else { throw .invalid("Invalid IPv4 address '\(text)'") }
            result.append(address)
        }
        return result
    }

    func prefixes(_ name: String) throws(SimError) -> [IPv4CIDR] {
        var result: [IPv4CIDR] = []
        for text in list(name) {
            guard let cidr = try? IPv4CIDR(parsing: text) else { throw .invalid("Invalid IPv4 prefix '\(text)'") }
            result.append(cidr)
        }
        return result
    }

    /// `Filter.N.Name` with `Filter.N.Value.M`.
    func filters() -> [(name: String, values: [String])] {
        indexed("Filter").compactMap { n in
            guard let name = values["Filter.\(n).Name"] else { return nil }
            return (name, list("Filter.\(n).Value"))
        }
    }

    /// Tags of `TagSpecification.N` whose `ResourceType` is `resourceType`.
    func tagSpecifications(for resourceType: String) -> [SimTag] {
        indexed("TagSpecification").flatMap { n -> [SimTag] in
            guard values["TagSpecification.\(n).ResourceType"] == resourceType else { return [] }
            return tags("TagSpecification.\(n).Tag")
        }
    }

    /// `Prefix.N.Key` / `Prefix.N.Value`.
    func tags(_ prefix: String) -> [SimTag] {
        indexed(prefix).compactMap { n in
            guard let key = values["\(prefix).\(n).Key"] else { return nil }
            return SimTag(key: key, value: values["\(prefix).\(n).Value"] ?? "")
        }
    }
}

/// EC2 filter matching: a resource matches when every filter matches one of its values
/// (`*` and `?` wildcards). An unknown filter name is an error, as in EC2.
struct SimFilter {
    typealias Extractor<T> = (T) -> [String]

    static func apply<T>(_ filters: [(name: String, values: [String])], to items: [T], fields: [String: Extractor<T>],
                         tags: @escaping (T) -> [SimTag]) throws(SimError) -> [T] {
        var extractors: [(Extractor<T>, [String])] = []
        for filter in filters {
            if filter.name.hasPrefix("tag:") {
                let key = String(filter.name.dropFirst(4))
                extractors.append(({ tags($0).filter { $0.key == key }.map(\.value) }, filter.values))
            } else if filter.name == "tag-key" {
                extractors.append(({ tags($0).map(\.key) }, filter.values))
            } else if let field = fields[filter.name] {
                extractors.append((field, filter.values))
            } else {
                throw SimError("InvalidParameterValue", "The filter '\(filter.name)' is invalid")
            }
        }
        return items.filter { item in
            extractors.allSatisfy { extract, patterns in
                let values = extract(item)
                return values.contains { value in patterns.contains { glob($0, value) } }
            }
        }
    }

    static func glob(_ pattern: String, _ value: String) -> Bool {
        let p = Array(pattern), v = Array(value)
        var pi = 0, vi = 0, star = -1, mark = 0
        while vi < v.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == v[vi]) {
                pi += 1; vi += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi; mark = vi; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; vi = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
