/// How a setting's text becomes a value (naming its source in errors), and how a value is shown
/// as a default in help and documentation (nil: nothing to show).
public struct SettingFormat<Value>: Sendable {
    public let parse: @Sendable (_ text: String, _ source: String) throws(ConfigurationError) -> Value
    public let show: @Sendable (Value) -> String?

    public init(parse: @escaping @Sendable (_ text: String, _ source: String) throws(ConfigurationError) -> Value,
                show: @escaping @Sendable (Value) -> String?) {
        self.parse = parse
        self.show = show
    }
}

/// One setting of a component: a flag `--NAME`, an environment variable `VPCNET_NAME` (upper
/// case, `-` → `_`), a key `NAME` in the YAML settings file; its help, its default and what its
/// value changes in the component's configuration. A component's settings are one
/// ``SettingTable``: adding a setting is adding its row.
public struct Setting<Configuration>: Sendable {
    public let name: String
    /// What it means, as a sentence; the default is appended from the table.
    public let help: String
    /// Further environment variables read after `VPCNET_NAME` (e.g. the downward API's `NODE_NAME`).
    public let aliases: [String]
    /// The error when no source gives a non-empty value; nil: the setting is optional.
    public let requiredMessage: String?
    let describedDefault: String?
    let showDefault: @Sendable (Configuration) -> String?
    let apply: @Sendable (inout Configuration, _ text: String, _ source: String) throws(ConfigurationError) -> Void

    public var environmentName: String { "VPCNET_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 }) }

    /// A setting stored at `keyPath`. `default` describes a default that is not a plain value
    /// (e.g. "the interface with the primary ENI's MAC"); otherwise it is read from the table's defaults.
    public static func value<Value>(_ name: String, _ keyPath: WritableKeyPath<Configuration, Value> & Sendable, _ format: SettingFormat<Value>,
                                    help: String, default described: String? = nil, aliases: [String] = [],
                                    required requiredMessage: String? = nil) -> Setting {
        Setting(name: name, help: help, aliases: aliases, requiredMessage: requiredMessage, describedDefault: described,
                showDefault: { format.show($0[keyPath: keyPath]) },
                apply: { (configuration: inout Configuration, text: String, source: String) throws(ConfigurationError) in
                    configuration[keyPath: keyPath] = try format.parse(text, source)
                })
    }

    /// A setting stored at an optional `keyPath` (unset: nil).
    public static func value<Value>(_ name: String, _ keyPath: WritableKeyPath<Configuration, Value?> & Sendable, _ format: SettingFormat<Value>,
                                    help: String, default described: String? = nil, aliases: [String] = [],
                                    required requiredMessage: String? = nil) -> Setting {
        Setting(name: name, help: help, aliases: aliases, requiredMessage: requiredMessage, describedDefault: described,
                showDefault: { $0[keyPath: keyPath].flatMap(format.show) },
                apply: { (configuration: inout Configuration, text: String, source: String) throws(ConfigurationError) in
                    configuration[keyPath: keyPath] = try format.parse(text, source)
                })
    }
}

/// A component's settings and its defaults, and the one resolver of all components: a flag beats
/// the environment, which beats the settings file; an empty environment variable counts as unset.
public struct SettingTable<Configuration: Sendable>: Sendable {
    /// The executable the settings belong to (`eni-controller`, `vpcnet-daemon`).
    public let component: String
    public let defaults: Configuration
    public let settings: [Setting<Configuration>]

    public init(component: String, defaults: Configuration, settings: [Setting<Configuration>]) {
        precondition(Set(settings.map(\.name)).count == settings.count, "\(component): a setting name is used twice")
        self.component = component
        self.defaults = defaults
        self.settings = settings
    }

    public var names: [String] { settings.map(\.name) }

    public subscript(name: String) -> Setting<Configuration>? { settings.first { $0.name == name } }

    /// The default as help and documentation show it (nil: none, e.g. a required setting).
    public func defaultText(_ setting: Setting<Configuration>) -> String? {
        setting.describedDefault ?? setting.showDefault(defaults)
    }

    /// The help of `name` with its default: what `--help` and docs/configuration.md show.
    public func help(_ name: String) -> String {
        guard let setting = self[name] else { return "" }
        if setting.requiredMessage != nil { return setting.help + " Required." }
        return defaultText(setting).map { "\(setting.help) Default: \($0)." } ?? setting.help
    }

    /// The configuration from the three sources (each keyed by setting name), every value checked.
    public func resolve(flags: [String: String], environment: [String: String], file: [String: String]) throws(ConfigurationError) -> Configuration {
        for name in Set(flags.keys).union(file.keys) where self[name] == nil {
            throw ConfigurationError("unknown setting \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
        func value(_ setting: Setting<Configuration>) -> (text: String, source: String)? {
            if let flag = flags[setting.name] { return (flag, "--\(setting.name)") }
            for variable in [setting.environmentName] + setting.aliases {
                if let text = environment[variable], !text.isEmpty { return (text, variable) }
            }
            if let text = file[setting.name] { return (text, "\(setting.name) in the config file") }
            return nil
        }
        for setting in settings {
            if let message = setting.requiredMessage, (value(setting)?.text ?? "").isEmpty { throw ConfigurationError(message) }
        }
        var configuration = defaults
        for setting in settings {
            guard let (text, source) = value(setting) else { continue }
            try setting.apply(&configuration, text, source)
        }
        return configuration
    }
}

extension SettingFormat where Value == Duration {
    /// `90`, `90s`, `15m`, `2h` (see ``SettingParser/duration(_:source:)``); shown in seconds up
    /// to four minutes, else in the largest whole unit.
    public static var duration: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in try SettingParser.duration(text, source: source) },
             show: { duration in
                 let seconds = duration.components.seconds
                 if seconds >= 3600, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
                 if seconds >= 300, seconds % 60 == 0 { return "\(seconds / 60)m" }
                 return "\(seconds)s"
             })
    }
}

extension SettingFormat where Value == Bool {
    public static var bool: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in try SettingParser.bool(text, source: source) }, show: { "\($0)" })
    }
}

extension SettingFormat where Value: FixedWidthInteger & Sendable {
    /// A whole number in `range`.
    public static func integer(in range: ClosedRange<Int>) -> Self {
        Self(parse: { (text, source) throws(ConfigurationError) in Value(try SettingParser.integer(text, in: range, source: source)) },
             show: { "\($0)" })
    }
}

extension SettingFormat where Value == String {
    /// Any text.
    public static var text: Self { Self(parse: { text, _ in text }, show: { $0.isEmpty ? nil : $0 }) }

    /// An absolute path.
    public static var absolutePath: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in
                 guard text.hasPrefix("/") else { throw ConfigurationError("\(source): expected an absolute path, got \"\(text)\"") }
                 return text
             },
             show: { $0 })
    }
}

extension SettingFormat where Value == [String] {
    /// Absolute directories separated by colons, like `PATH`.
    public static var directories: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in
                 let directories = text.split(separator: ":").map(String.init)
                 guard !directories.isEmpty, directories.allSatisfy({ $0.hasPrefix("/") }) else {
                     throw ConfigurationError("\(source): expected absolute directories separated by colons, got \"\(text)\"")
                 }
                 return directories
             },
             show: { $0.joined(separator: ":") })
    }
}

extension SettingFormat where Value == [IPv4CIDR] {
    /// `10.1.0.0/16,192.168.0.0/24`.
    public static var cidrs: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in try SettingParser.cidrs(text, source: source) },
             show: { $0.isEmpty ? nil : $0.map(\.description).joined(separator: ",") })
    }
}

extension SettingFormat where Value == [String: String] {
    /// `KEY=VALUE,KEY=VALUE`.
    public static var tags: Self {
        Self(parse: { (text, source) throws(ConfigurationError) in try SettingParser.tags(text, source: source) },
             show: { $0.isEmpty ? nil : $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") })
    }
}

extension SettingFormat where Value: Equatable & Sendable {
    /// One of a few words, each standing for a value.
    public static func choice(_ choices: KeyValuePairs<String, Value>) -> Self {
        let pairs = choices.map { ($0.key, $0.value) }
        let words = pairs.map(\.0)
        let expected = words.count > 1 ? words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1] : words.joined()
        return Self(parse: { (text, source) throws(ConfigurationError) in
                        guard let value = pairs.first(where: { $0.0 == text })?.1 else {
                            throw ConfigurationError("\(source): expected \(expected), got \"\(text)\"")
                        }
                        return value
                    },
                    show: { value in pairs.first { $0.1 == value }?.0 })
    }
}
