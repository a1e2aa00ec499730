import AWSEC2
import ControllerRuntime
import Foundation
import Kubernetes
import Logging
import Metrics
import Synchronization
import VPCNetCore
import VPCNetSettings

/// The eni-controller: Nodes from an informer, through a rate-limited work queue, to a bounded
/// pool of workers that each reconcile one node (level-triggered: every pass reads EC2 and the
/// Node afresh, so any pass may crash and be repeated). Also runs the periodic leaked-ENI sweep.
/// Run it under a ``LeaderElector`` so only one replica acts.
public final class ENIController: Sendable {
    public let kube: KubeClient
    public let provisioner: NodeProvisioner
    public let configuration: ControllerConfiguration
    public let informer: Informer<Node>
    /// NetworkProfiles (docs/network-profiles.md): which nodes get which extra ENIs.
    public let profiles: Informer<NetworkProfile>
    let profileStatus: ProfileStatusWriter
    let queue: WorkQueue<String>
    let events: EventRecorder
    let logger: Logger
    let metrics: ControllerMetrics
    private let nodeStates = Mutex<[String: NodeState]>([:])
    /// When each node was last checked against EC2, and for which profiles (their names and
    /// generations): a node whose profiles changed is checked again at once. Lost on restart,
    /// which only means checking again.
    private let verifiedAt = Mutex<[String: (at: ContinuousClock.Instant, profiles: [String])]>([:])
    /// The record last written per node (with the Node's uid): our own writes re-queue the node
    /// before the informer has seen them, and that pass must not redo the EC2 work.
    private let written = Mutex<[String: (uid: String?, json: String, at: ContinuousClock.Instant)]>([:])
    /// Since when each node has been waiting for EC2 to finish a transition (an attachment, a
    /// pending instance).
    private let waitingSince = Mutex<[String: ContinuousClock.Instant]>([:])
    /// How often a node waiting for an attachment is looked at, and for how long, before the
    /// growing backoff takes over. Attachments finish within seconds, and the growing backoff sees
    /// one late by up to half its last delay (1.6 s at its fifth look); a steady look each second
    /// sees a 3 s attachment with 3–4 looks (DescribeNetworkInterfaces) where the backoff spends 5,
    /// and one that hangs costs at most 10 before the backoff takes over.
    static let attachPoll: Duration = .seconds(1), attachPollWindow: Duration = .seconds(10)
    /// Finished reconciles per node: what tests wait on to know a node was looked at again.
    private let finished = Mutex<[String: Int]>([:])

    enum NodeState: String, CaseIterable { case provisioned, provisioning, failed }

    public init(kube: KubeClient, ec2: EC2Client, configuration: ControllerConfiguration,
                logger: Logger = Logger(label: "vpcnet.eni-controller")) {
        self.kube = kube
        self.configuration = configuration
        self.logger = logger
        provisioner = NodeProvisioner(ec2: ec2, settings: ProvisionerSettings(clusterName: configuration.clusterName,
                                                                              subnetTags: configuration.subnetTags,
                                                                              subnetBackoff: configuration.subnetBackoff), logger: logger)
        informer = Informer<Node>(client: kube, resyncPeriod: configuration.verifyPeriod, logger: logger)
        profiles = Informer<NetworkProfile>(client: kube, resyncPeriod: nil, logger: logger)
        queue = WorkQueue(backoff: configuration.queueBackoff)
        events = EventRecorder(client: kube, component: "vpcnet-eni-controller", logger: logger)
        profileStatus = ProfileStatusWriter(kube: kube, events: events, logger: logger)
        metrics = ControllerMetrics()
    }

    /// Runs until cancelled (or leadership is lost, which cancels it).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.informer.run { event in await self.handle(event) } }
            group.addTask { await self.profiles.run { event in await self.profileChanged(event) } }
            group.addTask { await self.profileStatus.run(profiles: self.profiles, invalid: Self.invalidReason) }
            group.addTask {
                await self.informer.waitForSync()
                // Profiles reserve device indexes: wait for them, but not for ever, and not at all
                // where the API does not serve them (a cluster installed before the CRD; the
                // informer keeps trying and says why it cannot list).
                if await self.profilesServed() {
                    await withTaskGroup(of: Void.self) { wait in
                        wait.addTask { await self.profiles.waitForSync() }
                        wait.addTask { try? await Task.sleep(for: .seconds(10)) }
                        await wait.next()
                        wait.cancelAll()
                    }
                }
                self.logger.info("node cache synced; starting workers", metadata: ["workers": "\(self.configuration.workers)"])
                await withTaskGroup(of: Void.self) { workers in
                    for _ in 0..<max(1, self.configuration.workers) { workers.addTask { await self.work() } }
                }
            }
            group.addTask { await self.sweepLoop() }
            await group.next()
            group.cancelAll()
        }
        await queue.shutDown()
    }

    /// How many reconciles of `node` have finished.
    public func finishedReconciles(of node: String) -> Int { finished.withLock { $0[node] ?? 0 } }

    /// Queues `node` for a reconcile, as any change of it would.
    public func requeue(_ node: String) async { await queue.add(node) }

    func handle(_ event: InformerEvent<Node>) async {
        switch event {
        case .added(let node), .deleted(let node), .resync(let node):
            await queue.add(node.name)
        case .updated(let old, let new):
            // Kubelet heartbeats change status every few seconds; only what we act on counts.
            if Self.relevantChange(old, new) { await queue.add(new.name) }
        }
    }

    /// Whether the API serves NetworkProfiles (false only for a clear 404).
    func profilesServed() async -> Bool {
        let probe: Result<Int, KubeError>
        do { probe = .success(try await kube.list(NetworkProfile.self).items.count) } catch { probe = .failure(error) }
        if case .failure(let error) = probe { return !error.isNotFound }
        return true
    }

    /// A profile changed: the nodes it selects (before or after) or that carry it look again.
    func profileChanged(_ event: InformerEvent<NetworkProfile>) async {
        var involved: [ProfileSpec] = []
        switch event {
        case .updated(let old, let new): involved = [old, new].compactMap { try? ProfileSpec($0) }
        default: involved = [event.object].compactMap { try? ProfileSpec($0) }
        }
        let name = event.object.name
        for node in informer.list() {
            let carries = node.annotations[WellKnown.Annotations.nodeNetwork]?.contains("\"profile\":\"\(name)\"") ?? false
            if carries || involved.contains(where: { $0.selects(labels: node.labels) }) { await queue.add(node.name) }
        }
    }

    /// Why a profile's spec cannot be used, or nil.
    @Sendable static func invalidReason(_ profile: NetworkProfile) -> String? {
        do { _ = try ProfileSpec(profile) } catch { return error.description }
        return nil
    }

    /// The usable profiles that select `node`, sorted by name.
    func profiles(selecting node: Node) -> [ProfileSpec] {
        profiles.list().compactMap { try? ProfileSpec($0) }.filter { $0.selects(labels: node.labels) }.sorted { $0.name < $1.name }
    }

    static func relevantChange(_ old: Node, _ new: Node) -> Bool {
        old.providerID != new.providerID
            || old.labels != new.labels  // profiles select nodes by label
            || old.annotations[WellKnown.Annotations.nodeNetwork] != new.annotations[WellKnown.Annotations.nodeNetwork]
            || old.labels[WellKnown.Labels.instanceID] != new.labels[WellKnown.Labels.instanceID]
            || old.labels[WellKnown.Labels.podCapacity] != new.labels[WellKnown.Labels.podCapacity]
            || old.labels[WellKnown.Labels.maxPods] != new.labels[WellKnown.Labels.maxPods]
            || old.hasTaint(WellKnown.Taints.noInterfaceConfigured) != new.hasTaint(WellKnown.Taints.noInterfaceConfigured)
            || old.uid != new.uid
    }

    private func work() async {
        while let name = await queue.next() {
            let started = ContinuousClock.now
            let decision = await reconcile(name)
            metrics.reconciled(decision, in: ContinuousClock.now - started)
            finished.withLock { $0[name, default: 0] += 1 }
            if Task.isCancelled {
                // Shutting down (or leadership lost): whatever failed, failed because of that.
                await queue.done(name)
                return
            }
            switch decision {
            case .done: await queue.forget(name)
            case .backOff: await queue.addRateLimited(name)
            case .recheck(let delay): await queue.add(name, after: delay)
            }
            await queue.done(name)
            metrics.queueDepth.record(await queue.count)
        }
    }

    private func sweepLoop() async {
        while (try? await Task.sleep(for: configuration.sweepInterval * Double.random(in: 0.9...1.1))) != nil {
            do throws(ProvisioningError) {
                let deleted = try await provisioner.sweep(grace: configuration.sweepGrace)
                if !deleted.isEmpty { logger.notice("swept leaked ENIs", metadata: ["enis": "\(deleted)"]) }
                metrics.swept.increment(by: deleted.count)
            } catch {
                logger.warning("sweep failed", metadata: ["error": "\(error)"])
            }
            await queueNodesDeletedUnseen()
        }
    }

    /// Nodes deleted while no controller led (the watch never showed their deletion) still have
    /// their ENIs, attached to instances that may run on. Their names go through the queue like
    /// any deletion: ``nodeGone(_:)`` confirms with the API and cleans up.
    func queueNodesDeletedUnseen() async {
        guard configuration.deleteENIsOnNodeDeletion else { return }
        await informer.waitForSync()
        do throws(ProvisioningError) {
            for name in try await provisioner.nodeNamesWithENIs().sorted() where informer.get(name) == nil {
                logger.notice("a node with ENIs of ours no longer exists; cleaning up", metadata: ["node": "\(name)"])
                await queue.add(name)
            }
        } catch {
            logger.warning("listing our ENIs' nodes failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Reconcile

    /// `backOff` re-queues with the per-node exponential backoff (jittered, capped): waiting for
    /// EC2 transitions too, so a stuck ENI cannot cost a steady stream of Describe calls.
    enum Decision: Equatable {
        case done
        case backOff
        /// Look once more after this delay (not a retry loop: the condition expires).
        case recheck(after: Duration)
    }

    func reconcile(_ name: String) async -> Decision {
        guard let node = informer.get(name) else { return await nodeGone(name) }
        guard let text = node.providerID, !text.isEmpty else { return .done }  // set later by the cloud provider: an update follows
        let providerID: AWSProviderID
        do {
            providerID = try AWSProviderID(parsing: text)
        } catch {
            if case .notAWS = error { return .done }
            await events.record(node, .warning, reason: "InvalidProviderID", message: "cannot read provider ID \(text): \(error)")
            setState(name, .failed)
            return .done  // fixing the provider ID is an update, which requeues the node
        }
        let instanceID = providerID.instanceID
        if let last = written.withLock({ $0[name] }), last.uid == node.uid, ContinuousClock.now - last.at < .seconds(30),
           node.annotations[WellKnown.Annotations.nodeNetwork] != last.json {
            // The cache has not caught up with our own write (its event re-queues the node), or
            // someone changed the record right after it: look again once that window has passed.
            return .recheck(after: .seconds(30) - (ContinuousClock.now - last.at))
        }
        let existing = node.annotations[WellKnown.Annotations.nodeNetwork].flatMap { try? NodeNetworkRecord(json: $0) }
        let current = existing.map { $0.instanceID == instanceID } ?? false

        if !current, !node.hasTaint(WellKnown.Taints.noInterfaceConfigured) {
            // No pods until the daemon has configured what we are about to create.
            do {
                try await kube.update(Node.self, name: name) { node in node.addTaint(WellKnown.Taints.noInterfaceConfigured) }
            } catch {
                logger.warning("tainting the node failed", metadata: ["node": "\(name)", "error": "\(error)"])
                return .backOff
            }
        }

        let sizing: PodSizing
        do {
            sizing = try configuration.podSizing.overridden(byLabel: node.labels[WellKnown.Labels.maxPods])
        } catch {
            await events.record(node, .warning, reason: "InvalidMaxPods", message: "\(error.description); the node is not provisioned until it is fixed")
            setState(name, .failed)
            return .done  // fixing the label is an update, which requeues the node
        }
        let selected = profiles(selecting: node)
        let fingerprint = selected.map { "\($0.name)@\($0.generation)" }
        let lastVerified = verifiedAt.withLock { $0[name] }
        if current, labelsMatch(node, existing!, sizing), let lastVerified, lastVerified.profiles == fingerprint,
           ContinuousClock.now - lastVerified.at < configuration.verifyPeriod * 0.9 {
            return .done
        }

        setState(name, current ? nodeState(name) ?? .provisioned : .provisioning)
        let outcome: NodeProvisioner.Outcome
        do {
            outcome = try await provisioner.provision(nodeName: name, instanceID: instanceID, sizing: sizing, profiles: selected)
        } catch {
            return await failed(node, error)
        }
        profileStatus.ledger.withLock {
            $0.report(node: name, record: outcome.record, selected: selected.map(\.name), problems: outcome.profileProblems)
        }
        for (profile, problem) in outcome.profileProblems.sorted(by: { $0.key < $1.key }) {
            logger.warning("a network profile could not be given to the node", metadata: ["node": "\(name)", "profile": "\(profile)", "error": "\(problem)"])
        }
        if !outcome.created.isEmpty {
            await events.record(node, .normal, reason: "ENIsCreated", message: "created and attached \(outcome.created.joined(separator: ", "))")
        }
        await recordFallbacks(node, outcome.fallbacks)
        if let shortfall = outcome.shortfall {
            await events.record(node, .warning, reason: "PartialAllocation",
                                message: "subnet \(shortfall.subnetID) has no free addresses: the node starts with \(shortfall.got) of the \(shortfall.needs) pod addresses it needs (min-pods allows \(shortfall.minimum)) and gets the rest when the subnet has them")
        }
        let record = outcome.record
        if existing != record || !labelsMatch(node, record, sizing) {
            do {
                // The uid makes the patch conditional: a same-named successor Node is not written over.
                _ = try await kube.patch(Node.self, name: name, .merge, [
                    "metadata": [
                        "uid": node.uid.map(JSONValue.string) ?? .null,
                        "labels": [.init(WellKnown.Labels.instanceID): .string(instanceID.rawValue),
                                   .init(WellKnown.Labels.podCapacity): .string(Self.capacity(record, sizing))],
                        "annotations": [.init(WellKnown.Annotations.nodeNetwork): .string(record.jsonString())],
                    ],
                ])
            } catch {
                logger.warning("writing the node record failed", metadata: ["node": "\(name)", "error": "\(error)"])
                return .backOff
            }
            written.withLock { $0[name] = (node.uid, record.jsonString(), .now) }
            if !current {
                await events.record(node, .normal, reason: "NetworkProvisioned",
                                    message: "\(record.podENIs.count) ENIs with \(record.podAddresses.count) pod addresses")
                if let created = node.raw.value(at: "metadata.creationTimestamp")?.stringValue,
                   let date = ISO8601DateFormatter().date(from: created) {
                    metrics.provisionSeconds.recordSeconds(max(0, Date().timeIntervalSince(date)))
                }
            }
        }
        setState(name, .provisioned)
        waitingSince.withLock { _ = $0.removeValue(forKey: name) }
        logger.info("node provisioned", metadata: ["node": "\(name)", "instance": "\(instanceID)", "enis": "\(record.podENIs.count)"])
        // Not verified while short: the rest is asked for once the subnet's backoff has passed.
        if outcome.shortfall != nil { return .recheck(after: provisioner.settings.subnetBackoff * Double.random(in: 1.0...1.1)) }
        // A profile that failed here is tried again with the queue's growing backoff (an operator may fix it).
        if !outcome.profileProblems.isEmpty { return .backOff }
        verifiedAt.withLock { $0[name] = (.now, fingerprint) }
        return .done
    }

    private func labelsMatch(_ node: Node, _ record: NodeNetworkRecord, _ sizing: PodSizing) -> Bool {
        node.labels[WellKnown.Labels.instanceID] == record.instanceID.rawValue
            && node.labels[WellKnown.Labels.podCapacity] == Self.capacity(record, sizing)
    }

    static func capacity(_ record: NodeNetworkRecord, _ sizing: PodSizing) -> String {
        String(sizing.podCapacity(podAddresses: record.podAddresses.count))
    }

    private func recordFallbacks(_ node: Node, _ fallbacks: [PrefixFallback]) async {
        for fallback in fallbacks {
            metrics.prefixFallbacks.increment()
            if let free = fallback.freePrefixes { metrics.subnetFreePrefixes(fallback.subnetID).record(free) }
            let free = fallback.freePrefixes.map { "\($0) free /28 prefixes" } ?? "no free /28 prefix EC2 would give"
            await events.record(node, .warning, reason: "PrefixDelegationFallback",
                                message: "subnet \(fallback.subnetID) has \(free): \(fallback.eniID) got \(fallback.singlesGiven) single addresses instead of \(fallback.prefixesAsked) /28 prefixes")
        }
    }

    private func failed(_ node: Node, _ error: ProvisioningError) async -> Decision {
        if Task.isCancelled { return .backOff }
        if case .inProgress = error {
            logger.debug("waiting for EC2", metadata: ["node": "\(node.name)", "detail": "\(error)"])
            let now = ContinuousClock.now
            let since = waitingSince.withLock { waiting in
                if let since = waiting[node.name] { return since }
                waiting[node.name] = now
                return now
            }
            if now - since < Self.attachPollWindow { return .recheck(after: Self.attachPoll * Double.random(in: 0.9...1.1)) }
            if await queue.failureCount(node.name) == 8 {
                await events.record(node, .warning, reason: "WaitingForEC2", message: "\(error)")
            }
            return .backOff
        }
        // A later wait is a new one, with its own steady looks.
        waitingSince.withLock { _ = $0.removeValue(forKey: node.name) }
        setState(node.name, .failed)
        if case .shortOfAddresses(let shortfall) = error {
            await recordFallbacks(node, shortfall.fallbacks)
            await events.record(node, .warning, reason: "InsufficientAddresses", message: "\(error); retrying when the subnet has addresses")
        } else if let permission = error.missingPermission {
            await events.record(node, .warning, reason: "MissingPermission",
                                message: "the eni-controller's IAM role lacks \(permission): \(error)")
        } else {
            await events.record(node, .warning, reason: "ProvisioningFailed", message: "\(error)")
        }
        logger.warning("provisioning failed", metadata: ["node": "\(node.name)", "error": "\(error)"])
        return .backOff
    }

    /// The Node is gone from the cache. Confirm with the API before touching EC2: a lagging
    /// cache must never cost a live node its interfaces.
    private func nodeGone(_ name: String) async -> Decision {
        setState(name, nil)
        profileStatus.ledger.withLock { $0.nodeGone(name) }
        verifiedAt.withLock { _ = $0.removeValue(forKey: name) }
        written.withLock { _ = $0.removeValue(forKey: name) }
        waitingSince.withLock { _ = $0.removeValue(forKey: name) }
        guard configuration.deleteENIsOnNodeDeletion else { return .done }
        let check: Result<Node, KubeError>
        do { check = .success(try await kube.get(Node.self, name: name)) } catch { check = .failure(error) }
        switch check {
        case .success: return .done  // it exists; its add event is on the way
        case .failure(let error) where !error.isNotFound: return .backOff
        case .failure: break
        }
        do {
            let cleanup = try await provisioner.cleanUp(nodeName: name)
            if !cleanup.detached.isEmpty || !cleanup.deleted.isEmpty {
                logger.notice("cleaned up after a deleted node", metadata: [
                    "node": "\(name)", "detached": "\(cleanup.detached)", "deleted": "\(cleanup.deleted)"])
            }
            return cleanup.remaining.isEmpty ? .done : .backOff
        } catch {
            logger.warning("cleaning up after a deleted node failed", metadata: ["node": "\(name)", "error": "\(error)"])
            return .backOff
        }
    }

    private func nodeState(_ name: String) -> NodeState? { nodeStates.withLock { $0[name] } }

    private func setState(_ name: String, _ state: NodeState?) {
        let counts = nodeStates.withLock { states -> [NodeState: Int] in
            states[name] = state
            return Dictionary(grouping: states.values, by: { $0 }).mapValues(\.count)
        }
        for state in NodeState.allCases { metrics.nodes(state.rawValue).record(counts[state] ?? 0) }
    }
}
