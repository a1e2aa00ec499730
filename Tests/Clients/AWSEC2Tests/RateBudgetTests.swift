@testable import AWSEC2
import Synchronization
import Testing

@Suite struct RateBudgetTests {
    /// Manual time: `sleep` records the wait and advances nothing, so results are exact.
    final class ManualClock: Sendable {
        let time = Mutex(Duration.zero)
        let slept = Mutex([Duration]())
        func advance(_ d: Duration) { time.withLock { $0 += d } }
        func budget(_ configuration: RateBudget.Configuration) -> RateBudget {
            RateBudget(configuration: configuration, now: { self.time.withLock { $0 } },
                       sleep: { d in self.slept.withLock { $0.append(d) } })
        }
    }

    @Test func burstsQueueInsteadOfFailing() async throws {
        let clock = ManualClock()
        let budget = clock.budget(.init(nonMutating: .init(capacity: 3, refillPerSecond: 2)))
        for _ in 0..<3 { #expect(try await budget.acquire("DescribeNetworkInterfaces") == .zero, "the capacity is a free burst") }
        // Beyond it, each caller is booked the next refill slot: 0.5 s apart at 2 tokens/s.
        var waits: [Duration] = []
        for _ in 0..<3 { waits.append(try await budget.acquire("DescribeNetworkInterfaces")) }
        #expect(waits == [.milliseconds(500), .milliseconds(1000), .milliseconds(1500)])
        #expect(clock.slept.withLock { $0 } == waits)
        // After the bucket has refilled, bursts are free again, up to the capacity only.
        clock.advance(.seconds(10))
        #expect(await budget.available("DescribeNetworkInterfaces") == 3)
    }

    @Test func concurrentCallersAreSpacedByTheRefillRate() async throws {
        let clock = ManualClock()
        let budget = clock.budget(.init(mutating: .init(capacity: 1, refillPerSecond: 20)))
        let waits = try await withThrowingTaskGroup(of: Duration.self) { group in
            for _ in 0..<10 { group.addTask { try await budget.acquire("AttachNetworkInterface") } }
            return try await group.reduce(into: [Duration]()) { $0.append($1) }
        }.sorted()
        // Reservations are booked in turn, one refill slot (50 ms at 20/s) apart.
        #expect(waits == (0..<10).map { Duration.milliseconds(50 * $0) })
    }

    @Test func actionsHaveTheirOwnBuckets() async throws {
        let budget = RateBudget(configuration: .init(nonMutating: .init(capacity: 1, refillPerSecond: 1),
                                                     mutating: .init(capacity: 1, refillPerSecond: 1),
                                                     overrides: ["CreateTags": .init(capacity: 5, refillPerSecond: 1)]))
        #expect(try await budget.acquire("DescribeSubnets") == .zero)
        #expect(try await budget.acquire("DescribeInstances") == .zero, "another action is not slowed by DescribeSubnets")
        for _ in 0..<5 { #expect(try await budget.acquire("CreateTags") == .zero) }
        #expect(await budget.available("CreateTags") < 1)
        #expect(await budget.available("DeleteNetworkInterface") == 1)
    }

    @Test func cancelledWaitersGiveTheirReservationBack() async throws {
        // Frozen time, and a sleep that lasts until cancelled: the waiter is certainly queued.
        let time = Mutex(Duration.zero)
        let budget = RateBudget(configuration: .init(mutating: .init(capacity: 1, refillPerSecond: 1), overrides: [:]),
                                now: { time.withLock { $0 } }, sleep: { _ in try await Task.sleep(for: .seconds(3600)) })
        _ = try await budget.acquire("CreateNetworkInterface")
        let waiter = Task { try await budget.acquire("CreateNetworkInterface") }
        for _ in 0..<1000 where await budget.available("CreateNetworkInterface") > -1 { try await Task.sleep(for: .milliseconds(2)) }
        #expect(await budget.available("CreateNetworkInterface") == -1, "the waiter holds a reservation")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(await budget.available("CreateNetworkInterface") == 0, "the cancelled reservation was returned")
    }

    @Test func backoffIsBoundedFullJitter() {
        let policy = RetryPolicy(baseBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        for retry in 1...12 {
            let ceiling = min(Duration.seconds(1), .milliseconds(100) * (1 << (retry - 1)))
            for _ in 0..<50 {
                let delay = policy.backoff(beforeRetry: retry)
                #expect(delay >= .zero && delay < ceiling)
            }
        }
    }
}
