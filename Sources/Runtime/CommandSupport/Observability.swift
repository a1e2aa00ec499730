import ArgumentParser
import Logging
import HTTPServing
import Metrics
import Prometheus

/// Logging and metrics as every vpcnet executable sets them up.
public enum Observability {
    /// Logs to standard error at the level `flag` names, else `VPCNET_LOG_LEVEL`, else info.
    public static func bootstrapLogging(level flag: String?, environment: [String: String], label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: (flag ?? environment["VPCNET_LOG_LEVEL"] ?? "info").lowercased()) else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }

    /// Bootstraps swift-metrics into a Prometheus registry. Call it before creating anything that
    /// makes metrics: those made earlier go to the no-op backend.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    /// Serves `registry` (with `/healthz`) on `address` (`--metrics-listen`, else
    /// `VPCNET_METRICS_LISTEN`, else `defaultAddress`); an empty address serves nothing.
    /// Returns the server (nil when disabled), for callers that must free the port before they exit.
    @discardableResult
    public static func serveMetrics(_ registry: PrometheusCollectorRegistry, address flag: String?, environment: [String: String],
                                    defaultAddress: String, logger: Logger) async throws -> HTTPServer? {
        let address = flag ?? environment["VPCNET_METRICS_LISTEN"] ?? defaultAddress
        guard !address.isEmpty else { return nil }
        let (host, port) = try listenAddress(address, option: "--metrics-listen")
        let server = try await MetricsServer.start(registry: registry, host: host, port: port)
        logger.info("serving /metrics and /healthz", metadata: ["address": "\(server.localAddress?.description ?? address)"])
        return server
    }
}
