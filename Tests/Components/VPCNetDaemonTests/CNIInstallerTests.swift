import Foundation
import HostNetwork
import KernelFakes
import Kubernetes
import Netlink
@testable import KubeSim
import Synchronization
import Testing
import TestSupport
@testable import VPCNetDaemon
import VPCNetCore
import VPCNetSettings


