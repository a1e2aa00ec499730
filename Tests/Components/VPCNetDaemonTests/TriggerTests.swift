@testable import VPCNetDaemon
import Testing

@Suite struct TriggerTests {
    @Test func aFireWakesOneWaitAndTheNextWaitsItsTime() async {
        let trigger = Trigger()
        trigger.fire()
        trigger.fire()
        let clock = ContinuousClock()
        let first = await clock.measure { await trigger.wait(atMost: .seconds(5)) }
        #expect(first < .seconds(1), "pending fires (coalesced) wake the next wait at once")
        let second = await clock.measure { await trigger.wait(atMost: .milliseconds(300)) }
        #expect(second >= .milliseconds(250), "no leftover fire: the wait lasts its timeout")
        let third = await clock.measure { await trigger.wait(atMost: .milliseconds(300)) }
        #expect(third >= .milliseconds(250), "a timer of an earlier wait does not wake a later one")
    }

    @Test func aFireDuringAWaitWakesIt() async {
        let trigger = Trigger()
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            trigger.fire()
        }
        let elapsed = await ContinuousClock().measure { await trigger.wait(atMost: .seconds(10)) }
        #expect(elapsed < .seconds(5))
    }
}
