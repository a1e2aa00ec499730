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
        .library(name: "AWSEC2", targets: ["AWSEC2"]),
        .library(name: "EC2Sim", targets: ["EC2Sim"]),
        .library(name: "Kube", targets: ["Kube"]),
        .executable(name: "vpcnet-sim", targets: ["vpcnet-sim"]),
        .executable(name: "eni-controller", targets: ["eni-controller"]),
        .executable(name: "vpcnet-ipam", targets: ["vpcnet-ipam"]),
        .executable(name: "vpcnet-daemon", targets: ["vpcnet-daemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/CoreOffice/XMLCoder", exact: "0.18.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", "2.101.2"..<"2.102.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", exact: "1.0.2"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", exact: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "2.4.1"),
        // No default traits: they link full Foundation into everything that uses it (the CNI plugin).
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0", traits: []),
        .package(url: "https://github.com/apple/swift-nio-http2", exact: "1.46.0"),
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

        // The EC2 Query API client: SigV4, credential chain, typed operations, retries, rate budget.
        // Hand-written because no AWS SDK for Swift is available here (see the file headers).
        .target(
            name: "AWSEC2",
            dependencies: [
                "VPCNetCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "XMLCoder", package: "XMLCoder"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AWSEC2Tests",
            dependencies: [
                "AWSEC2",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // The EC2 simulator: EC2's limits, state machines, throttling and SigV4, in memory, over HTTP.
        .target(
            name: "EC2Sim",
            dependencies: [
                "VPCNetCore", "AWSEC2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EC2SimTests",
            dependencies: [
                "EC2Sim", "AWSEC2",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        // The Kubernetes API client (issue 4): objects kept whole as JSON, the three patch formats,
        // selectors, typed views, get/list/watch/create/update/patch/delete, kubeconfig and exec credentials,
        // the informer, the rate-limited work queue and leader election.
        .target(
            name: "Kube",
            dependencies: [
                "VPCNetCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "KubeTests",
            dependencies: ["Kube", "VPCNetCore", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        // The Kubernetes API simulator (issue 4): storage with resourceVersions, optimistic
        // concurrency and watch history, and the REST API over HTTP that kubectl drives.
        .target(
            name: "KubeSim",
            dependencies: [
                "Kube",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                "VPCNetCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "KubeSimTests", dependencies: ["KubeSim", "Kube", "VPCNetCore", "TestSupport"], swiftSettings: strict),
        // Helpers shared by test targets.
        .target(name: "TestSupport", dependencies: ["HostNetwork", "Netlink", "VPCNetCore"], path: "Tests/TestSupport", swiftSettings: strict),
        // Netlink (issue 7): a thin Swift layer over Debian's libnl-route-3 for links, addresses,
        // routes and rules, with sockets bound to any network namespace.
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0", providers: [.apt(["libnl-3-dev", "libnl-route-3-dev", "libnl-nf-3-dev"])]),
        .target(name: "Netlink", dependencies: ["CNetlink", "VPCNetCore"], swiftSettings: strict),
        .testTarget(
            name: "NetlinkTests",
            dependencies: ["Netlink", "VPCNetCore", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strict
        ),
        // The daemon's host datapath (issue 7): the plan (pure) and the reconciler that applies it
        // through a small kernel surface (netlink, /proc/sys, iptables-restore).
        .target(
            name: "HostNetwork",
            dependencies: ["Netlink", "VPCNetCore", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HostNetworkTests",
            dependencies: ["HostNetwork", "Netlink", "VPCNetCore", "TestSupport", .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strict
        ),
        // The IPAM (issue 8): the address pool (pure), its durable store and its single owner.
        .target(name: "IPAM", dependencies: ["VPCNetCore"], swiftSettings: strict),
        .testTarget(
            name: "IPAMTests",
            dependencies: ["IPAM", "VPCNetCore", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        // The IPAM's wire format (generated from proto/ by scripts/gen-protos): messages only, so
        // the CNI plugin links no gRPC runtime; and the gRPC service definitions for the daemon.
        .target(
            name: "IPAMProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        .target(
            name: "IPAMGRPC",
            dependencies: [
                "IPAMProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        // A blocking, Foundation-free client of the IPAM service for short-lived processes (the
        // CNI plugin): HTTP/2 framing by hand, HPACK from swift-nio-http2, messages from IPAMProto.
        .target(
            name: "IPAMClient",
            dependencies: [
                "IPAMProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: strict
        ),
        // The CNI side (issue 8): the spec's environment, configuration, results and errors, and the
        // vpcnet-ipam plugin's logic. Foundation-free, like everything the plugin links.
        .target(name: "CNI", dependencies: ["IPAM", "IPAMClient", "IPAMProto", "VPCNetCore"], swiftSettings: strict),
        .testTarget(name: "CNITests", dependencies: ["CNI", "IPAM", "IPAMClient", "IPAMProto", "VPCNetCore", "TestSupport"], swiftSettings: strict),
        .executableTarget(
            name: "vpcnet-ipam",
            dependencies: ["CNI"],
            swiftSettings: strict,
            // Exec'd per pod: a static executable starts in about a millisecond.
            linkerSettings: [.unsafeFlags(["-static-executable", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization", "-use-ld=lld"])]
        ),
        // The daemon (issues 7 and 8): the node agent (host datapath, CNI installation, readiness).
        .target(
            name: "VPCNetDaemon",
            dependencies: [
                "HostNetwork", "Kube", "VPCNetCore", "IPAM", "IPAMProto", "IPAMGRPC", "IPAMClient", "Netlink",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VPCNetDaemonTests",
            dependencies: ["VPCNetDaemon", "HostNetwork", "Netlink", "Kube", "KubeSim", "VPCNetCore", "IPAM", "TestSupport"],
            swiftSettings: strict
        ),
        // The eni-controller (issue 6): the one component with EC2 permissions. Pure planning
        // (ProvisioningPlan) apart from the EC2 and Kubernetes I/O around it.
        .target(
            name: "ENIController",
            dependencies: [
                "VPCNetCore", "AWSEC2", "Kube",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ENIControllerTests",
            dependencies: ["ENIController", "EC2Sim", "KubeSim", "Kube", "AWSEC2", "VPCNetCore", "TestSupport"],
            swiftSettings: strict
        ),
        // What the executables share: the YAML settings file, HOST:PORT, signals, logging, /metrics and /healthz.
        .target(
            name: "CommandSupport",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "eni-controller",
            dependencies: [
                "ENIController", "Kube", "AWSEC2", "VPCNetCore", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vpcnet-daemon",
            dependencies: [
                "VPCNetDaemon", "IPAM", "Kube", "VPCNetCore", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // vpcnetctl (issue 9): status from the daemon's introspection endpoint, capacity, the IAM
        // policy and manifests (embedded from deploy/ by scripts/gen-deploy), diagnose, readiness.
        .target(
            name: "VPCNetCtl",
            dependencies: [
                "VPCNetCore", "VPCNetDaemon", "IPAM", "Kube",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "VPCNetCtlTests", dependencies: ["VPCNetCtl", "VPCNetDaemon", "IPAM", "VPCNetCore"], swiftSettings: strict),
        .executableTarget(
            name: "vpcnetctl",
            dependencies: [
                "VPCNetCtl", "VPCNetDaemon", "ENIController", "IPAMClient", "Kube",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // The simulated cluster (issue 10): the VPC fabric in network namespaces driven by the EC2
        // simulator, the metadata service, nodes, a scheduler and kubelets, and vpcnet's own processes.
        .target(
            name: "VPCSim",
            dependencies: [
                "EC2Sim", "KubeSim", "Kube", "AWSEC2", "Netlink", "VPCNetCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "vpcnet-sim",
            dependencies: [
                "EC2Sim", "KubeSim", "VPCSim", "Kube", "VPCNetCore", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
