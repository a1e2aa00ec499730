import Testing
import VPCNetCore
import VPCNetSettings

/// The generic table and resolver, on a table of its own, and what every component table promises.
@Suite struct SettingTableTests {
    struct Toy: Sendable {
        var name = ""
        var period: Duration = .seconds(90)
        var mode: Int? = nil
        var paths = ["/a", "/b"]
    }

    static let table = SettingTable(component: "toy", defaults: Toy(), settings: [
        .value("name", \.name, .text, help: "Its name.", aliases: ["TOY_NAME"], required: "a name is required"),
        .value("period", \.period, .duration, help: "How often."),
        .value("mode", \.mode, .choice(["off": nil, "one": 1, "two": 2]), help: "Which mode."),
        .value("paths", \.paths, .directories, help: "Where."),
    ])

    @Test func helpCarriesTheDefaultFromTheDefaults() {
        #expect(Self.table.help("name") == "Its name. Required.")
        #expect(Self.table.help("period") == "How often. Default: 90s.")
        #expect(Self.table.help("mode") == "Which mode. Default: off.")
        #expect(Self.table.help("paths") == "Where. Default: /a:/b.")
        #expect(Self.table.settings.map(\.environmentName) == ["VPCNET_NAME", "VPCNET_PERIOD", "VPCNET_MODE", "VPCNET_PATHS"])
    }

    @Test func precedenceAliasesAndEmptyVariables() throws {
        var toy = try Self.table.resolve(flags: [:], environment: ["TOY_NAME": "alias", "VPCNET_PERIOD": ""], file: ["period": "2m", "mode": "two"])
        #expect(toy.name == "alias" && toy.period == .seconds(120) && toy.mode == 2)
        toy = try Self.table.resolve(flags: ["name": "flag"], environment: ["VPCNET_NAME": "env", "TOY_NAME": "alias"], file: ["name": "file"])
        #expect(toy.name == "flag" && toy.period == .seconds(90) && toy.mode == nil && toy.paths == ["/a", "/b"])
        #expect(try Self.table.resolve(flags: [:], environment: ["VPCNET_NAME": "env", "TOY_NAME": "alias"], file: [:]).name == "env")
    }

    @Test func errorsNameTheSourceAndWhatWasExpected() {
        func message(_ flags: [String: String], _ environment: [String: String] = [:], _ file: [String: String] = [:]) -> String {
            do { _ = try Self.table.resolve(flags: flags, environment: environment, file: file) } catch { return error.description }
            return "no error"
        }
        #expect(message([:]) == "a name is required")
        #expect(message(["name": ""]) == "a name is required")
        #expect(message(["name": "x", "mode": "three"]) == "--mode: expected off, one or two, got \"three\"")
        #expect(message(["name": "x"], ["VPCNET_PERIOD": "soon"]).hasPrefix("VPCNET_PERIOD: expected a duration"))
        #expect(message(["name": "x"], [:], ["paths": "relative"]).hasPrefix("paths in the config file: expected absolute directories"))
        #expect(message(["name": "x", "colour": "red"]) == "unknown setting \"colour\" (known: name, period, mode, paths)")
    }

    /// What the executables' options, `vpcnetctl settings` and docs/configuration.md are made from.
    @Test func componentTablesHaveUniqueNamesAndEveryOptionalSettingADefaultOrNone() {
        for names in [ControllerSettings.table.names, DaemonSettings.table.names] {
            #expect(Set(names).count == names.count)
            #expect(names.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "-" } })
        }
        #expect(DaemonSettings.table.help("cooldown").hasSuffix("Default: 150s."))
        #expect(DaemonSettings.table.help("iptables-backend").hasSuffix("Default: auto."))
        #expect(DaemonSettings.table.help("metadata-access").hasSuffix("Default: blocked."))
        #expect(DaemonSettings.table.help("netns") == DaemonSettings.table["netns"]?.help)
        #expect(ControllerSettings.table.help("sweep-interval").hasSuffix("Default: 5m."))
    }
}
