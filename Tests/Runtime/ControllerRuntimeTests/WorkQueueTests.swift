@testable import Kubernetes
import ControllerRuntime
import TestSupport
import Testing
import VPCNetCore

@Suite struct WorkQueueTests {
    @Test func keysAreQueuedOnceAndNeverProcessedTwiceAtOnce() async {
        let queue = WorkQueue<String>()
        await queue.add("a")
        await queue.add("b")
        await queue.add("a")
        #expect(await queue.count == 2)
        let first = await queue.next()
        #expect(first == "a")
        // "a" changes while being processed: it is not handed out again until done.
        await queue.add("a")
        #expect(await queue.next() == "b")
        #expect(await queue.count == 0)
        await queue.done("b")
        await queue.done("a")
        #expect(await queue.next() == "a", "re-queued once the first processing finished")
        await queue.done("a")
        #expect(await queue.count == 0)
    }

    @Test func waitingWorkersGetKeysAsTheyArrive() async throws {
        let queue = WorkQueue<Int>()
        let taken = Task { await queue.next() }
        try await eventually("a worker waits") { await queue.waitingWorkers == 1 }
        await queue.add(7)
        #expect(await taken.value == 7)
        #expect(await queue.count == 0)
        await queue.add(7)
        #expect(await queue.count == 0, "still being processed: held back, not queued")
        await queue.done(7)
        #expect(await queue.next() == 7)
    }

    @Test func rateLimitedKeysBackOffExponentiallyUntilForgotten() async throws {
        let backoff = Backoff(base: .milliseconds(10), cap: .seconds(1))
        #expect(backoff.ceiling(attempt: 1) == .milliseconds(10))
        #expect(backoff.ceiling(attempt: 4) == .milliseconds(80))
        #expect(backoff.ceiling(attempt: 40) == .seconds(1))
        for attempt in 1...8 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= backoff.ceiling(attempt: attempt) / 2 && delay <= backoff.ceiling(attempt: attempt), "jitter stays in [d/2, d]")
        }

        let queue = WorkQueue<String>(backoff: Backoff(base: .milliseconds(200), cap: .seconds(1)))
        await queue.addRateLimited("x")
        await queue.addRateLimited("x")
        #expect(await queue.failureCount("x") == 2)
        #expect(await queue.count == 0, "not yet: it waits out its backoff")
        #expect(await queue.next() == "x", "arrives after the delay, once")
        await queue.done("x")
        await queue.forget("x")
        #expect(await queue.failureCount("x") == 0)
    }

    @Test func aShorterDelayedAddWins() async {
        let queue = WorkQueue<String>()
        await queue.add("k", after: .seconds(3600))
        await queue.add("k", after: .milliseconds(1))
        #expect(await queue.next() == "k")
    }

    @Test func shutDownAndCancellationReleaseWaitingWorkers() async {
        let queue = WorkQueue<String>()
        let worker = Task { await queue.next() }
        let cancelled = Task { await queue.next() }
        cancelled.cancel()
        #expect(await cancelled.value == nil)
        await queue.add("late", after: .seconds(3600))
        await queue.shutDown()
        #expect(await worker.value == nil)
        await queue.add("ignored")
        #expect(await queue.next() == nil)
    }
}
