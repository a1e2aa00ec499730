import Foundation
import VPCNetCore

/// The controller's settings by name, read from three places: a flag `--NAME`, an environment
/// variable `VPCNET_NAME` (upper case, `-` → `_`), and a key `NAME` in the YAML file given by
/// `--config` (a ConfigMap mounted into the pod). A flag beats the environment, which beats the file.
public enum ControllerSetting: String, CaseIterable, Sendable {
    case clusterName = "cluster-name"
    case workers
    case subnetTags = "subnet-tags"
    case deleteENIsOnNodeDeletion = "delete-enis-on-node-deletion"
    case sweepInterval = "sweep-interval"
    case sweepGrace = "sweep-grace"
    case verifyPeriod = "verify-period"

    public var environmentName: String { "VPCNET_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }

    public var help: String {
        switch self {
        case .clusterName: "Name of this cluster; tags every ENI so the controller finds (and only touches) its own. Required."
        case .workers: "Nodes reconciled concurrently (default 8)."
        case .subnetTags: "Put ENIs in subnets with these tags (KEY=VALUE,…) in the node's zone, most free addresses first (default: the instance's subnet)."
        case .deleteENIsOnNodeDeletion: "Detach and delete a node's ENIs when its Node object is deleted (true/false, default true)."
        case .sweepInterval: "How often leaked ENIs are swept, e.g. 5m (default 5m)."
        case .sweepGrace: "Age before an unattached ENI of ours counts as leaked, e.g. 15m (default 15m)."
        case .verifyPeriod: "How often a provisioned node is checked against EC2 again, e.g. 10m (default 10m)."
        }
    }
}


extension ControllerConfiguration {
    /// Builds the configuration from the three sources, checking every value.
    public static func resolve(flags: [ControllerSetting: String], environment: [String: String],
                               file: [ControllerSetting: String]) throws(ConfigurationError) -> ControllerConfiguration {
        func value(_ setting: ControllerSetting) -> (String, String)? {
            if let flag = flags[setting] { return (flag, "--\(setting.rawValue)") }
            if let env = environment[setting.environmentName], !env.isEmpty { return (env, setting.environmentName) }
            if let fromFile = file[setting] { return (fromFile, "\(setting.rawValue) in the config file") }
            return nil
        }
        guard let (cluster, _) = value(.clusterName), !cluster.isEmpty else {
            throw ConfigurationError("a cluster name is required: --cluster-name, VPCNET_CLUSTER_NAME or cluster-name in the config file")
        }
        guard cluster.count <= 255, cluster.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:/".contains($0) }) else {
            throw ConfigurationError("cluster name \"\(cluster)\" must be at most 255 letters, digits and - _ . : /")
        }
        var configuration = ControllerConfiguration(clusterName: cluster)
        if let (text, source) = value(.workers) {
            guard let workers = Int(text), (1...256).contains(workers) else { throw ConfigurationError("\(source): workers must be 1…256, got \(text)") }
            configuration.workers = workers
        }
        if let (text, source) = value(.subnetTags) { configuration.subnetTags = try SettingParser.tags(text, source: source) }
        if let (text, source) = value(.deleteENIsOnNodeDeletion) {
            configuration.deleteENIsOnNodeDeletion = try SettingParser.bool(text, source: source)
        }
        if let (text, source) = value(.sweepInterval) { configuration.sweepInterval = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.sweepGrace) { configuration.sweepGrace = try SettingParser.duration(text, source: source) }
        if let (text, source) = value(.verifyPeriod) { configuration.verifyPeriod = try SettingParser.duration(text, source: source) }
        return configuration
    }
}
