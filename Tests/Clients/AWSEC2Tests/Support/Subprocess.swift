import Foundation

/// Child processes for test peers, spawned with posix_spawn.
///
/// Foundation's `Process` was seen spinning and hanging here when a second child was started while
/// another ran; posix_spawn, pipes and waitpid on a thread of our own are simple and predictable.
/// Blocking waits never run on Swift concurrency's pool (on Linux, one thread per core).
enum Subprocess {
    struct Result: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: Data
    }

    static func run(_ argv: [String], input: Data = Data(), environment: [String: String]? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Swift.Result { try runBlocking(argv, input: input, environment: environment) }) }.start()
        }
    }

    /// Starts a long-running child in a process group of its own, with stdin, stdout and stderr
    /// on /dev/null; returns its pid (which is also the group's id).
    static func spawnDetached(_ argv: [String], environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        return try spawn(argv, environment: environment, actions: &actions, newProcessGroup: true)
    }

    /// Kills a child started by `spawnDetached` and everything it started, and reaps it.
    /// SIGKILL, because moto_server's web server does not exit on SIGTERM.
    static func terminate(_ pid: pid_t) {
        guard kill(-pid, SIGKILL) == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }

    private static func runBlocking(_ argv: [String], input: Data, environment: [String: String]?) throws -> Result {
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        for fd in stdinPipe + stdoutPipe + stderrPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let pid: pid_t
        do {
            pid = try spawn(argv, environment: environment ?? ProcessInfo.processInfo.environment, actions: &actions)
        } catch {
            for fd in stdinPipe + stdoutPipe + stderrPipe { close(fd) }
            throw error
        }
        close(stdinPipe[0]); close(stdoutPipe[1]); close(stderrPipe[1])
        let stdinWriter = stdinPipe[1], stderrReader = stderrPipe[0]

        // Feed stdin and drain stderr on their own threads so no pipe can fill up and stall the child.
        let stderrData = Locked(Data())
        let done = DispatchGroup()
        done.enter()
        Thread {
            input.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(stdinWriter, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(stdinWriter)
            stderrData.value = readAll(stderrReader)
            done.leave()
        }.start()
        let stdoutData = readAll(stdoutPipe[0])
        done.wait()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exit, stdout: stdoutData, stderr: stderrData.value)
    }

    private static func spawn(_ argv: [String], environment: [String: String], actions: inout posix_spawn_file_actions_t,
                              newProcessGroup: Bool = false) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if newProcessGroup {
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        return pid
    }

    private static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { data.append(contentsOf: buffer[0..<n]) } else if n == 0 || errno != EINTR { break }
        }
        close(fd)
        return data
    }
}

final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
