import Metrics

/// The controller's own metrics (EC2 calls, errors and latency by action come from the EC2
/// client). Names follow Prometheus conventions; the executable exports them on `/metrics`.
final class ControllerMetrics: Sendable {
    let queueDepth = Gauge(label: "vpcnet_controller_queue_depth")
    let swept = Counter(label: "vpcnet_controller_swept_enis_total")
    /// From the Node's creation to its record being written: what a user waits for.
    let provisionSeconds = Metrics.Timer(label: "vpcnet_controller_node_provision_seconds", preferredDisplayUnit: .seconds)

    /// ENIs given single addresses because their subnet had no free /28 (the `PrefixDelegationFallback` Event).
    let prefixFallbacks = Counter(label: "vpcnet_controller_prefix_fallbacks_total")
    /// Free aligned /28s of a subnet, counted when it last refused prefixes.
    func subnetFreePrefixes(_ subnetID: String) -> Gauge { Gauge(label: "vpcnet_controller_subnet_free_prefixes", dimensions: [("subnet", subnetID)]) }

    func nodes(_ state: String) -> Gauge { Gauge(label: "vpcnet_controller_nodes", dimensions: [("state", state)]) }

    /// `vpcnet_controller_reconciles_total{result}` (done, retry: backing off after a failure or
    /// while EC2 settles, recheck: looking again after a set delay) and the pass's duration.
    func reconciled(_ decision: ENIController.Decision, in duration: Duration) {
        let result = switch decision {
        case .done: "done"
        case .backOff: "retry"
        case .recheck: "recheck"
        }
        Counter(label: "vpcnet_controller_reconciles_total", dimensions: [("result", result)]).increment()
        Metrics.Timer(label: "vpcnet_controller_reconcile_duration_seconds", preferredDisplayUnit: .seconds).record(duration: duration)
    }
}
