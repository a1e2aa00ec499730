/// A setting that failed to parse: says where it came from and what was expected.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Parsers for settings given as text (flags, environment variables, a YAML file), shared by the
/// controller and the daemon. `source` names where the text came from, for the error.
public enum SettingParser {
    /// `90`, `90s`, `15m`, `2h`: at least one second, at most a week.
    public static func duration(_ text: String, source: String) throws(ConfigurationError) -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600]
        var number = trimmed(text)
        var multiplier: Int64 = 1
        if let last = number.last, let unit = units[last] {
            multiplier = unit
            number.removeLast()
        }
        guard let value = Int64(number), value > 0, case let (seconds, overflow) = value.multipliedReportingOverflow(by: multiplier),
              !overflow, seconds <= 7 * 86_400 else {
            throw ConfigurationError("\(source): expected a duration like 90s, 15m or 2h (1 s … 7 days), got \"\(text)\"")
        }
        return .seconds(seconds)
    }

    /// `KEY=VALUE,KEY=VALUE`.
    public static func tags(_ text: String, source: String) throws(ConfigurationError) -> [String: String] {
        var tags: [String: String] = [:]
        for pair in text.split(separator: ",").map({ trimmed(String($0)) }) where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw ConfigurationError("\(source): expected KEY=VALUE, got \"\(pair)\"") }
            tags[String(parts[0])] = String(parts[1])
        }
        return tags
    }

    public static func bool(_ text: String, source: String) throws(ConfigurationError) -> Bool {
        switch trimmed(text).lowercased() {
        case "true": true
        case "false": false
        default: throw ConfigurationError("\(source): expected true or false, got \"\(text)\"")
        }
    }

    /// A whole number in `range`.
    public static func integer(_ text: String, in range: ClosedRange<Int>, source: String) throws(ConfigurationError) -> Int {
        guard let value = Int(trimmed(text)), range.contains(value) else {
            throw ConfigurationError("\(source): expected a whole number \(range.lowerBound)…\(range.upperBound), got \"\(text)\"")
        }
        return value
    }

    /// `10.1.0.0/16,192.168.0.0/24`.
    public static func cidrs(_ text: String, source: String) throws(ConfigurationError) -> [IPv4CIDR] {
        var cidrs: [IPv4CIDR] = []
        for item in text.split(separator: ",").map({ trimmed(String($0)) }) where !item.isEmpty {
            do { cidrs.append(try IPv4CIDR(parsing: item)) } catch { throw ConfigurationError("\(source): \"\(item)\" is not an IPv4 CIDR") }
        }
        return cidrs
    }

    static func trimmed(_ text: String) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
