// swift-tools-version: 6.1
//
// vpcnet: Kubernetes pod networking for AWS. One target per component; see docs/ARCHITECTURE.md.

import PackageDescription

/// Our own targets build with warnings as errors (dependencies are not held to it).
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "vpcnet",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "VPCNetCore", targets: ["VPCNetCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
    ],
    targets: [
        // The shared model: names, the node network record, IPv4 types, provider IDs, instance limits.
        // Deliberately Foundation-free except FoundationEssentials, so the exec'd CNI plugin can use it.
        .target(name: "VPCNetCore", swiftSettings: strict),
        .testTarget(
            name: "VPCNetCoreTests",
            dependencies: [
                "VPCNetCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
