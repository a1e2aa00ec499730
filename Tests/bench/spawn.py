"""Exec'ing a plugin as cheaply as a runtime does, so the harness does not hide the plugin.

`posix_spawn` (glibc: clone(CLONE_VM|CLONE_VFORK), no copy of this Python process's page
tables) with stdin from a file and output to /dev/null. Its floor is measured with `/bin/true`
in the same harness and reported beside every figure it makes."""
import os
import subprocess
import tempfile
import time


class Spawner:
    def __init__(self, directory):
        self.directory = directory
        self._inputs = {}

    def _input(self, data):
        if data not in self._inputs:
            fd, path = tempfile.mkstemp(dir=self.directory, prefix="stdin-")
            os.write(fd, data)
            os.close(fd)
            self._inputs[data] = path
        return self._inputs[data]

    def start(self, argv, env, stdin=b""):
        """Starts one exec; returns (pid, start time)."""
        actions = [(os.POSIX_SPAWN_OPEN, 0, self._input(stdin), os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
        started = time.perf_counter()
        return os.posix_spawn(argv[0], argv, env, file_actions=actions), started

    def time(self, argv, env, stdin=b""):
        """Wall time (s) of one exec, which must succeed."""
        pid, started = self.start(argv, env, stdin)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - started
        self._check(status, argv, env, stdin)
        return elapsed

    def burst(self, runs, stdin_for=None):
        """Starts every (argv, env, stdin) of `runs` at once; returns each one's wall time (s), in
        order. All must succeed."""
        started, index = {}, {}
        for i, (argv, env, stdin) in enumerate(runs):
            pid, at = self.start(argv, env, stdin)
            started[pid], index[pid] = at, i
        times = [0.0] * len(runs)
        while started:
            pid, status = os.waitpid(-1, 0)
            if pid not in started:
                continue
            times[index[pid]] = time.perf_counter() - started.pop(pid)
            argv, env, stdin = runs[index[pid]]
            self._check(status, argv, env, stdin)
        return times

    def _check(self, status, argv, env, stdin):
        if os.waitstatus_to_exitcode(status) != 0:
            result = subprocess.run(argv, env=env, input=stdin, capture_output=True)
            raise SystemExit(f"{argv[0]} failed ({os.waitstatus_to_exitcode(status)}); again: "
                             f"{result.stdout.decode()}{result.stderr.decode()}")

    def close(self):
        for path in self._inputs.values():
            os.unlink(path)
        self._inputs.clear()


def instructions(argv, env, stdin):
    """Instructions the process executed (its user space, libraries included), counted by
    callgrind: the same for the same binary and input however loaded the machine is. It runs a copy
    without debug information (this valgrind cannot read the DWARF 5 that Swift writes), which
    executes the same instructions."""
    with tempfile.TemporaryDirectory(prefix="vpcnet-callgrind-") as directory:
        stripped = argv[0]
        sections = subprocess.run(["readelf", "-S", "-W", argv[0]], capture_output=True, text=True, check=True).stdout
        if ".debug_info" in sections:
            stripped = os.path.join(directory, os.path.basename(argv[0]))
            subprocess.run(["objcopy", "--strip-debug", argv[0], stripped], check=True)
        # Go programs (host-local) crash under valgrind when the runtime preempts threads with
        # signals: one thread, no asynchronous preemption (Swift ignores both).
        env = dict(env, GOMAXPROCS="1", GODEBUG="asyncpreemptoff=1")
        result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--trace-children=no",
                                 stripped, *argv[1:]], env=env, input=stdin, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"callgrind {argv[0]} failed: {result.stdout.decode()}{result.stderr.decode()[-2000:]}")
    for line in result.stderr.decode().splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise SystemExit(f"callgrind printed no count: {result.stderr.decode()[-2000:]}")
