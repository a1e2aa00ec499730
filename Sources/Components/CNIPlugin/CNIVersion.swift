#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VPCNetContracts
import VPCNetCore

/// The CNI versions vpcnet-ipam speaks, oldest first; results are rendered in the one asked for.
public enum CNIVersion {
    public static let supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
    public static let latest = "1.1.0"

    /// Orders dotted versions numerically.
    static func atLeast(_ version: String, _ minimum: String) -> Bool {
        let a = version.split(separator: ".").map { Int($0) ?? 0 }, b = minimum.split(separator: ".").map { Int($0) ?? 0 }
        return a.lexicographicallyPrecedes(b) == false
    }
}
