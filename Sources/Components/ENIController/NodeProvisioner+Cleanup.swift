import AWSEC2
import Foundation
import VPCNetCore

extension NodeProvisioner {
    /// What cleaning up after a deleted Node did; `remaining` ENIs are still detaching.
    public struct Cleanup: Sendable {
        public var detached: [String] = []
        public var deleted: [String] = []
        public var remaining: [String] = []
    }

    /// Detaches and deletes the ENIs we made for a Node that no longer exists. ENIs attached to an
    /// instance that is terminating are left to DeleteOnTermination. Repeat while `remaining` is not empty.
    public func cleanUp(nodeName: String) async throws(ProvisioningError) -> Cleanup {
        let filters = [Filter("tag:\(WellKnown.ENITags.cluster)", [settings.clusterName]),
                       Filter("tag:\(WellKnown.ENITags.nodeName)", [nodeName])]
        let enis = try await call(.describeNetworkInterfaces) { () async throws(EC2Error) in try await self.ec2.describeNetworkInterfaces(filters: filters) }
        var cleanup = Cleanup()
        for eni in enis {
            if let attachment = eni.attachment {
                if attachment.status == .detaching {
                    cleanup.remaining.append(eni.id)
                    continue
                }
                if let instanceID = attachment.instanceID,
                   let instance = try await call(.describeInstances, { () async throws(EC2Error) in try await self.ec2.describeInstances(ids: [instanceID]) }).first,
                   ["shutting-down", "terminated"].contains(instance.state) {
                    continue
                }
                // Already detached: the next pass sees it available.
                try await ignoring(.attachmentNotFound, action: .detachNetworkInterface) { () async throws(EC2Error) in
                    try await self.ec2.detachNetworkInterface(attachmentID: attachment.id)
                }
                cleanup.detached.append(eni.id)
                cleanup.remaining.append(eni.id)
            } else if eni.status == .available {
                try await deleteIgnoringMissing(eni.id)
                cleanup.deleted.append(eni.id)
            } else {
                cleanup.remaining.append(eni.id)
            }
        }
        return cleanup
    }

    /// Deletes `available` ENIs carrying our cluster tag whose creation tag is older than `grace`
    /// (or unreadable): ENIs left behind when a node died mid-provisioning or a cleanup was cut short.
    public func sweep(grace: Duration, now: Date = Date()) async throws(ProvisioningError) -> [String] {
        let filters = [Filter("tag:\(WellKnown.ENITags.cluster)", [settings.clusterName]),
                       Filter("status", [NetworkInterfaceStatus.available.rawValue])]
        let enis = try await call(.describeNetworkInterfaces) { () async throws(EC2Error) in try await self.ec2.describeNetworkInterfaces(filters: filters) }
        let graceSeconds = Double(grace.components.seconds)
        var deleted: [String] = []
        for eni in enis where eni.attachment == nil {
            let created = eni.tags.first { $0.key == WellKnown.ENITags.createdAt }.flatMap { ISO8601DateFormatter().date(from: $0.value) }
            if let created, now.timeIntervalSince(created) < graceSeconds { continue }
            // One failure (it was just attached as a spare, say) must not end the sweep.
            do throws(ProvisioningError) {
                try await deleteIgnoringMissing(eni.id)
                deleted.append(eni.id)
            } catch {
                logger.warning("sweep: deleting a leaked ENI failed", metadata: ["eni": "\(eni.id)", "error": "\(error)"])
            }
        }
        return deleted
    }

    /// The node names on every ENI of ours: a name whose Node is gone was deleted while no
    /// controller was watching (its ENIs may still be attached to a running instance).
    public func nodeNamesWithENIs() async throws(ProvisioningError) -> Set<String> {
        let filters = [Filter("tag:\(WellKnown.ENITags.cluster)", [settings.clusterName])]
        let enis = try await call(.describeNetworkInterfaces) { () async throws(EC2Error) in try await self.ec2.describeNetworkInterfaces(filters: filters) }
        return Set(enis.compactMap { eni in eni.tags.first { $0.key == WellKnown.ENITags.nodeName }?.value })
    }

    private func deleteIgnoringMissing(_ id: String) async throws(ProvisioningError) {
        // Someone (another pass, DeleteOnTermination) may have been first.
        try await ignoring(.networkInterfaceNotFound, action: .deleteNetworkInterface) { () async throws(EC2Error) in
            try await self.ec2.deleteNetworkInterface(id: id)
        }
    }

    /// Runs `body`, treating the error `code` as success. (A Result, not `catch where`: the 6.3
    /// compiler crashes on that in async typed throws.)
    private func ignoring(_ code: EC2ErrorCode, action: EC2Action, _ body: () async throws(EC2Error) -> Void) async throws(ProvisioningError) {
        let result: Result<Void, EC2Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        if case .failure(let error) = result, error.code != code { throw .ec2(error, action: action) }
    }
}
