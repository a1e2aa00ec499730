import Synchronization

/// A level-triggered wake-up: ``fire()`` any number of times, and the next ``wait(atMost:)``
/// returns at once (however many fires it coalesces); otherwise it returns after the timeout.
final class Trigger: Sendable {
    private struct State {
        var pending = false
        var waiter: (generation: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var generation: UInt64 = 0
    }
    private let state = Mutex(State())

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns when fired, after `timeout`, or when the task is cancelled.
    func wait(atMost timeout: Duration) async {
        let generation = state.withLock { state -> UInt64 in
            state.generation += 1
            return state.generation
        }
        // The timer wakes only the wait that started it: a late timer of an earlier wait must not
        // count as a fire (that would make every later wait return at once).
        let timer = Task {
            do { try await Task.sleep(for: timeout) } catch { return }
            self.wake(generation: generation)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = (generation, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.wake(generation: generation)
        }
    }

    /// Resumes the wait of `generation` if it is still waiting; otherwise does nothing.
    private func wake(generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter, waiter.generation == generation else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }
}
