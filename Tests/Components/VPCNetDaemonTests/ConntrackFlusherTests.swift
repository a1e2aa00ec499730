import Logging
import Synchronization
import Testing
import VPCNetCore

@testable import VPCNetDaemon

@Suite struct ConntrackFlusherTests {
    final class Recorder: Sendable {
        let batches = Mutex<[Set<IPv4Address>]>([])
        let failing = Mutex(false)
        func flush(_ addresses: Set<IPv4Address>) throws -> Int {
            batches.withLock { $0.append(addresses) }
            if failing.withLock({ $0 }) { throw TestFailure("the table is not reachable") }
            return addresses.count
        }
    }
    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private func address(_ text: String) throws -> IPv4Address { try IPv4Address(parsing: text) }

    @Test func releasesWithinOneWindowShareOneFlush() async throws {
        let recorder = Recorder()
        let flusher = ConntrackFlusher(window: .milliseconds(100), logger: Logger(label: "test")) { try recorder.flush($0) }
        for text in ["10.0.1.1", "10.0.1.2", "10.0.1.1"] { flusher.released(try address(text)) }
        #expect(recorder.batches.withLock { $0.isEmpty }, "nothing is flushed before the window ends")
        try await Task.sleep(for: .milliseconds(400))
        #expect(recorder.batches.withLock { $0 } == [[try address("10.0.1.1"), try address("10.0.1.2")]])
        flusher.released(try address("10.0.1.3"))
        flusher.flushNow()
        #expect(recorder.batches.withLock { $0.last } == [try address("10.0.1.3")], "a release after a flush starts the next window")
        try await Task.sleep(for: .milliseconds(300))
        #expect(recorder.batches.withLock { $0.count } == 2, "the window's own flush finds nothing left and does not call again")
    }

    @Test func aFailedFlushIsLoggedAndTheNextReleasesStillFlush() async throws {
        let recorder = Recorder()
        recorder.failing.withLock { $0 = true }
        let flusher = ConntrackFlusher(window: .milliseconds(10), logger: Logger(label: "test")) { try recorder.flush($0) }
        flusher.released(try address("10.0.1.1"))
        flusher.flushNow()
        recorder.failing.withLock { $0 = false }
        flusher.released(try address("10.0.1.2"))
        flusher.flushNow()
        #expect(recorder.batches.withLock { $0 } == [[try address("10.0.1.1")], [try address("10.0.1.2")]])
    }

    @Test func theWindowStaysUnderTheCooldown() {
        #expect(ConntrackFlusher.window(forCooldown: .seconds(150)) == .seconds(1))
        #expect(ConntrackFlusher.window(forCooldown: .milliseconds(600)) == .milliseconds(300))
        #expect(ConntrackFlusher.window(forCooldown: .zero) == .zero)
    }
}
