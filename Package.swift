// swift-tools-version: 6.1
//
// vpcnet: Kubernetes pod networking for AWS. The folders under Sources/ are roles (Core, Clients,
// Wire, Runtime, Components, Executables, Testbed); each target is one piece with one job.
// docs/ARCHITECTURE.md shows the tree and the target graph, checked against this file.

import PackageDescription

/// Our own targets build with warnings as errors (dependencies are not held to it).
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

// Products of the packages below, by the names the targets use.
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let asyncHTTPClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let grpcTransport = Target.Dependency.product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let metricsTestKit = Target.Dependency.product(name: "MetricsTestKit", package: "swift-metrics")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioHPACK = Target.Dependency.product(name: "NIOHPACK", package: "swift-nio-http2")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let propertyBased = Target.Dependency.product(name: "PropertyBased", package: "swift-property-based")
let subprocess = Target.Dependency.product(name: "Subprocess", package: "swift-subprocess")
let swiftASN1 = Target.Dependency.product(name: "SwiftASN1", package: "swift-asn1")
let swiftProtobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")
let x509 = Target.Dependency.product(name: "X509", package: "swift-certificates")
let xmlCoder = Target.Dependency.product(name: "XMLCoder", package: "XMLCoder")
let yams = Target.Dependency.product(name: "Yams", package: "Yams")

/// A library of ours in `Sources/<role>/<name>`.
func library(_ name: String, in role: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/\(role)/\(name)", swiftSettings: strict)
}

/// The tests of a library in `Tests/<role>/<name>`.
func tests(_ name: String, in role: String, _ dependencies: [Target.Dependency]) -> Target {
    .testTarget(name: name, dependencies: dependencies, path: "Tests/\(role)/\(name)", swiftSettings: strict)
}

/// A thin executable in `Sources/Executables/<name>`.
func executable(_ name: String, _ dependencies: [Target.Dependency], linkerSettings: [LinkerSetting] = []) -> Target {
    .executableTarget(name: name, dependencies: dependencies, path: "Sources/Executables/\(name)", swiftSettings: strict,
                      linkerSettings: linkerSettings)
}

let package = Package(
    name: "vpcnet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "eni-controller", targets: ["eni-controller"]),
        .executable(name: "vpcnet-daemon", targets: ["vpcnet-daemon"]),
        .executable(name: "vpcnet-ipam", targets: ["vpcnet-ipam"]),
        .executable(name: "vpcnetctl", targets: ["vpcnetctl"]),
        .executable(name: "vpcnet-sim", targets: ["vpcnet-sim"]),
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
        // MARK: Core — the shared model and the contracts between components
        // Foundation-free except FoundationEssentials, so the exec'd CNI plugin can link it.
        library("VPCNetCore", in: "Core"),
        // What the processes of a node agree on: paths and ports, attachments and allocations,
        // the release spool, the daemon's status schema. The CNI plugin links this, not the daemon.
        library("VPCNetContracts", in: "Core", ["VPCNetCore"]),
        // Each component's configuration and its settings table (flag, VPCNET_*, ConfigMap key,
        // default, parser, help): what vpcnetctl and the docs read instead of the components.
        library("VPCNetSettings", in: "Core", ["VPCNetContracts", "VPCNetCore"]),

        // MARK: Clients — vpcnet's clients of EC2, the Kubernetes API, the kernel and its own IPAM service
        // EC2's Query API: SigV4, credential chain, typed operations, retries, rate budget.
        library("AWSEC2", in: "Clients", ["VPCNetCore", asyncHTTPClient, crypto, xmlCoder, logging, metrics, nioCore, nioHTTP1]),
        // The Kubernetes API: objects kept whole, patches, selectors, connection, get/list/watch/write.
        library("Kubernetes", in: "Clients", ["VPCNetCore", asyncHTTPClient, nioCore, nioHTTP1, nioSSL, logging, subprocess, yams]),
        // Netlink through Debian's libnl-route-3 and libnl-nf-3, in any network namespace.
        .systemLibrary(name: "CNetlink", path: "Sources/Clients/CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev", "libnl-nf-3-dev"])]),
        library("Netlink", in: "Clients", ["CNetlink", "VPCNetCore"]),
        // The daemon's IPAM service for one-shot processes (the CNI plugin): HTTP/2 framing by
        // hand, HPACK from swift-nio-http2, Foundation-free.
        library("IPAMClient", in: "Clients", ["IPAMProto", swiftProtobuf, nioCore, nioHPACK]),

        // MARK: Wire — the IPAM service's messages and gRPC stubs, generated from proto/ by scripts/gen-protos
        // Messages apart from the services, so the CNI plugin links no gRPC runtime.
        library("IPAMProto", in: "Wire", [swiftProtobuf]),
        library("IPAMGRPC", in: "Wire", ["IPAMProto", grpcCore, grpcProtobuf]),

        // MARK: Runtime — what the long-running components are built on
        // Informer, work queue, leader election, Events: the shape of a Kubernetes controller.
        library("ControllerRuntime", in: "Runtime", ["Kubernetes", "VPCNetCore", logging]),
        // The one HTTP/1.1 server skeleton (swift-nio's codec under NIOAsyncChannel): metrics,
        // introspection, the simulators, the metadata service and test servers all use it.
        library("HTTPServing", in: "Runtime", [nioCore, nioPosix, nioHTTP1, nioSSL]),
        // What the executables share: settings files, HOST:PORT, signals, logging, metrics, read-only HTTP.
        library("CommandSupport", in: "Runtime", ["VPCNetCore", "HTTPServing", argumentParser, logging, metrics, prometheus, yams]),

        // MARK: Components — everything vpcnet does, as libraries
        // The eni-controller: the one component with EC2 permissions.
        library("ENIController", in: "Components", ["VPCNetCore", "VPCNetSettings", "AWSEC2", "Kubernetes", "ControllerRuntime", logging, metrics]),
        // The node's datapath: the pure plan and the reconciler over a small kernel surface.
        library("HostNetwork", in: "Components", ["Netlink", "VPCNetCore", "VPCNetSettings", subprocess]),
        // The node's address pool (pure), its durable store and its single owner.
        library("IPAM", in: "Components", ["VPCNetContracts", "VPCNetCore"]),
        // The vpcnet-daemon: node agent, CNI installation, IPAM service, taints.
        library("VPCNetDaemon", in: "Components", [
            "HostNetwork", "Kubernetes", "ControllerRuntime", "VPCNetContracts", "VPCNetCore", "VPCNetSettings", "IPAM", "IPAMProto", "IPAMGRPC",
            "IPAMClient", "Netlink",
            metrics, logging, grpcCore, grpcTransport,
        ]),
        // The vpcnet-ipam CNI plugin's logic and the CNI spec it speaks. Foundation-free.
        library("CNIPlugin", in: "Components", ["IPAMClient", "IPAMProto", "VPCNetContracts", "VPCNetCore"]),
        // vpcnetctl's logic: status, capacity, manifests and IAM policy, diagnose.
        library("VPCNetCtl", in: "Components", ["VPCNetContracts", "VPCNetCore", "Kubernetes", asyncHTTPClient, nioCore, subprocess]),

        // MARK: Executables — thin mains: options, signals and wiring around a component
        executable("eni-controller", ["ENIController", "Kubernetes", "ControllerRuntime", "AWSEC2", "VPCNetContracts", "VPCNetCore", "VPCNetSettings",
                                      "CommandSupport",
                                      argumentParser, logging]),
        executable("vpcnet-daemon", ["VPCNetDaemon", "IPAM", "Kubernetes", "VPCNetContracts", "VPCNetCore", "VPCNetSettings", "CommandSupport",
                                     "HTTPServing", argumentParser, logging]),
        // Exec'd per pod: a static executable starts in about a millisecond.
        executable("vpcnet-ipam", ["CNIPlugin"], linkerSettings: [.unsafeFlags([
            "-static-executable", "-l_FoundationCollections", "-l_FoundationCShims", "-lswiftSynchronization", "-use-ld=lld",
        ])]),
        executable("vpcnetctl", ["VPCNetCtl", "VPCNetContracts", "VPCNetCore", "VPCNetSettings", "IPAMClient", "Kubernetes", argumentParser]),
        executable("vpcnet-sim", ["EC2Sim", "KubeSim", "ClusterSim", "Kubernetes", "VPCNetCore", "CommandSupport", argumentParser, logging]),

        // MARK: Testbed — the simulated world vpcnet is tested and demonstrated in (never shipped)
        // An EC2 region in memory: EC2's limits, state machines, throttling and SigV4, over HTTP.
        library("EC2Sim", in: "Testbed", ["VPCNetCore", "AWSEC2", "HTTPServing", nioCore, nioHTTP1]),
        // A Kubernetes API server in memory: storage, watches, the REST API kubectl drives.
        library("KubeSim", in: "Testbed", ["Kubernetes", "VPCNetCore", "HTTPServing", nioCore, nioHTTP1, nioSSL, x509, swiftASN1, crypto]),
        // kube-proxy's iptables mode for the simulated nodes: Services and EndpointSlices to its rule set.
        library("ServiceProxy", in: "Testbed", ["Kubernetes", "VPCNetCore", crypto]),
        // The simulated cluster: VPC fabric, metadata service, nodes, scheduler, endpoint slices, kubelets and service proxies.
        library("ClusterSim", in: "Testbed", ["EC2Sim", "KubeSim", "ServiceProxy", "Kubernetes", "ControllerRuntime", "AWSEC2", "Netlink", "VPCNetCore",
                                              "HTTPServing", subprocess, logging, nioCore, nioPosix, nioHTTP1]),

        // MARK: Support — what several test targets share
        // Tests/ mirrors Sources/: the tests of Sources/<role>/<target> are Tests/<role>/<target>Tests.
        .target(name: "TestSupport", dependencies: ["VPCNetCore"], path: "Tests/Support/TestSupport", swiftSettings: strict),
        // A fake kernel for the datapath's reconcile logic (links libnl through Netlink's types).
        .target(name: "KernelFakes", dependencies: ["HostNetwork", "Netlink", "TestSupport", "VPCNetCore", "VPCNetSettings"], path: "Tests/Support/KernelFakes",
                swiftSettings: strict),
        tests("VPCNetCoreTests", in: "Core", ["VPCNetCore", propertyBased]),
        tests("VPCNetSettingsTests", in: "Core", ["VPCNetSettings", "VPCNetCore"]),
        tests("AWSEC2Tests", in: "Clients", ["AWSEC2", "TestSupport", "HTTPServing", metrics, metricsTestKit, nioCore, nioHTTP1]),
        tests("KubernetesTests", in: "Clients", ["Kubernetes", "KubeSim", "VPCNetCore", "TestSupport", propertyBased]),
        tests("NetlinkTests", in: "Clients", ["Netlink", "VPCNetCore", subprocess]),
        tests("IPAMClientTests", in: "Clients", ["IPAMClient", "IPAMProto", "IPAMGRPC", "TestSupport", grpcCore, grpcTransport, nioCore, nioHPACK,
                                                  swiftProtobuf]),
        tests("ControllerRuntimeTests", in: "Runtime", ["ControllerRuntime", "Kubernetes", "KubeSim", "VPCNetCore", "TestSupport"]),
        tests("ENIControllerTests", in: "Components", ["ENIController", "VPCNetSettings", "EC2Sim", "KubeSim", "Kubernetes", "ControllerRuntime", "AWSEC2",
                                                      "VPCNetCore", "TestSupport"]),
        tests("HostNetworkTests", in: "Components", ["HostNetwork", "VPCNetSettings", "Netlink", "VPCNetCore", "TestSupport", "KernelFakes", subprocess]),
        tests("IPAMTests", in: "Components", ["IPAM", "VPCNetContracts", "VPCNetCore", "TestSupport", propertyBased]),
        tests("VPCNetDaemonTests", in: "Components", ["VPCNetDaemon", "VPCNetContracts", "VPCNetSettings", "HostNetwork", "Netlink", "Kubernetes", "ControllerRuntime", "KubeSim",
                                                      "VPCNetCore", "IPAM", "TestSupport", "KernelFakes"]),
        tests("CNIPluginTests", in: "Components", ["CNIPlugin", "VPCNetContracts", "VPCNetDaemon", "IPAM", "IPAMClient", "IPAMProto", "VPCNetCore", "TestSupport"]),
        tests("VPCNetCtlTests", in: "Components", ["VPCNetCtl", "VPCNetContracts", "VPCNetCore", "TestSupport"]),
        tests("EC2SimTests", in: "Testbed", ["EC2Sim", "AWSEC2", propertyBased]),
        tests("KubeSimTests", in: "Testbed", ["KubeSim", "Kubernetes", "VPCNetCore", "TestSupport"]),
        tests("ServiceProxyTests", in: "Testbed", ["ServiceProxy", "Kubernetes", "VPCNetCore"]),
        tests("ClusterSimTests", in: "Testbed", ["ClusterSim", "EC2Sim", "ServiceProxy", "Kubernetes", "VPCNetCore"]),
    ],
    swiftLanguageModes: [.v6]
)
