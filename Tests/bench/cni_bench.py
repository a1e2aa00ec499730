#!/usr/bin/env python3
"""vpcnet's CNI path against the reference CNI path, side by side on this machine (`make bench`).

Each target is a ratio to a baseline measured in the same run, interleaved, so the machine's
speed and load cancel out:

1. Pod network set-up as a runtime does it (libcni through cnitool: ADD into a fresh namespace,
   then DEL): `ptp` + `vpcnet-ipam` (asking the daemon, which persists with fsync) against `ptp` +
   `host-local` (Debian's build of the upstream plugins). Target: median ≤ 1.3×.
2. The IPAM plugin alone, exec'd as ptp execs it: wall time and peak memory of `vpcnet-ipam` ADD
   against `host-local` ADD. Targets: median time ≤ 1.3×, peak private memory ≤ 1.3× (the peak
   charge of a memory cgroup the exec runs in: what many concurrent pod starts multiply). Max RSS
   is reported too, without a target: it counts the binary's shared text pages whole.
3. The daemon's allocation (an ADD inside the daemon, state file fsync'd before the answer), from
   its own histogram: reported with its share of the plugin's ADD (no target: it is the floor).

Needs root (network namespaces). Exits 1 when a target is missed.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))

from daemon_harness import APIServer, Node, eni, make_directory, remove_directory  # noqa: E402
from support import CNITOOL, run  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
REFERENCE = "/usr/lib/cni"
TARGETS = {"set-up": 1.3, "plugin time": 1.3, "plugin memory": 1.3}


def timed(argv, env, stdin=None):
    """Wall time (s) of one command, which must succeed."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}{result.stdout.decode()}")
    return elapsed


class MemoryCgroup:
    """A memory cgroup of our own (v1: memory.max_usage_in_bytes; v2: memory.peak) that each
    measured exec joins before it execs: its peak charge is the memory the run itself made
    (heap, stacks, written pages), not the binary's text already in the page cache, which is
    shared by every exec and counted in max RSS whole."""

    def __init__(self):
        self.path = self.peak_file = None
        for line in open("/proc/self/cgroup"):
            number, controllers, path = line.strip().split(":", 2)
            if "memory" in controllers.split(",") and os.path.isdir(f"/sys/fs/cgroup/memory{path}"):
                self.path, self.peak_file = f"/sys/fs/cgroup/memory{path}/vpcnet-bench-{os.getpid()}", "memory.max_usage_in_bytes"
            elif number == "0" and os.path.exists(f"/sys/fs/cgroup{path}/cgroup.controllers") and not self.path:
                self.path, self.peak_file = f"/sys/fs/cgroup{path.rstrip('/')}/vpcnet-bench-{os.getpid()}", "memory.peak"
        if self.path:
            try:
                os.mkdir(self.path)
                if not os.path.exists(os.path.join(self.path, self.peak_file)):
                    raise OSError(f"no {self.peak_file}")
            except OSError as error:
                print(f"bench: no memory cgroup of our own ({error}); private memory not measured", file=sys.stderr)
                self.path = None

    def run(self, argv, env, stdin):
        """Wall time (s) and peak private memory (KiB) of one exec."""
        if self.peak_file == "memory.max_usage_in_bytes":
            with open(os.path.join(self.path, self.peak_file), "w") as f:
                f.write("0")
        else:  # v2: a fresh cgroup per run (memory.peak cannot be reset on older kernels)
            os.rmdir(self.path)
            os.mkdir(self.path)
        procs = os.path.join(self.path, "cgroup.procs")
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, input=stdin, capture_output=True,
                                preexec_fn=lambda: open(procs, "w").write(str(os.getpid())))
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}{result.stdout.decode()}")
        return elapsed, int(open(os.path.join(self.path, self.peak_file)).read()) / 1024

    def close(self):
        if self.path and os.path.isdir(self.path):
            os.rmdir(self.path)


def max_rss(argv, env, stdin):
    """Peak RSS (KiB) of one exec, file-backed pages of the binary included. GNU time forks from
    its own small process (a fork of this Python process would carry its RSS)."""
    result = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, input=stdin, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}{result.stdout.decode()}")
    return int(result.stderr.decode().strip().splitlines()[-1])


def netns(name):
    run("ip", "netns", "add", name)
    return f"/var/run/netns/{name}"


def median_ms(samples):
    return statistics.median(samples) * 1000


def p90_ms(samples):
    return statistics.quantiles(samples, n=10)[-1] * 1000


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (network namespaces)")
    directory = make_directory()
    api = APIServer(directory)
    pod_addresses = [f"10.0.{1 + i // 250}.{1 + i % 250}" for i in range(ROUNDS + 10)]
    node = Node(api, directory, "bench", [eni(1, 1, pod_addresses)])
    results, informational = {}, {}
    try:
        node.start()
        try:
            node.wait_ready()
        except AssertionError:
            print(open(os.path.join(directory, "daemon.log")).read()[-3000:], file=sys.stderr)
            raise
        baseline = os.path.join(directory, "baseline.conflist")
        with open(node.conflist) as f:
            ours = json.load(f)
        with open(baseline, "w") as f:
            json.dump({"cniVersion": ours["cniVersion"], "name": "baseline", "plugins": [{
                "type": "ptp", "mtu": ours["plugins"][0].get("mtu", 9001),
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.200.0.0/16"}]],
                         "dataDir": os.path.join(directory, "host-local")}}]}, f)
        env = dict(os.environ, CNI_PATH=f"{node.bin}:{REFERENCE}", CNITOOL_CACHE_DIR=os.path.join(directory, "cache"),
                   K8S_POD_NAMESPACE="default", K8S_POD_NAME="bench")

        # 1. The runtime's path, interleaved.
        setup = {"vpcnet": [], "baseline": []}
        for i in range(ROUNDS):
            order = [("vpcnet", node.conflist), ("baseline", baseline)]
            if i % 2:
                order.reverse()
            for label, conflist in order:
                path = netns(f"bench-{os.getpid()}-{label}-{i}")
                add = timed([CNITOOL, "add", conflist, path, f"{label}-{i}"], env)
                delete = timed([CNITOOL, "del", conflist, path, f"{label}-{i}"], env)
                run("ip", "netns", "del", os.path.basename(path))
                setup[label].append(add + delete)
        results["set-up"] = (setup["vpcnet"], setup["baseline"])

        # 2. The IPAM plugin alone, as ptp execs it.
        plugin_env = {"CNI_PATH": f"{node.bin}:{REFERENCE}", "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": "eth0",
                      "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench"}
        vpcnet_conf = json.dumps({"cniVersion": "1.0.0", "name": "vpcnet", "type": "vpcnet-ipam", "ipam": ours["plugins"][0]["ipam"]}).encode()
        host_local_conf = json.dumps({"cniVersion": "1.0.0", "name": "baseline", "type": "host-local",
                                      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.201.0.0/16"}]],
                                               "dataDir": os.path.join(directory, "host-local-2")}}).encode()
        plugin = {"vpcnet": ([], [], []), "baseline": ([], [], [])}
        cgroup = MemoryCgroup()
        try:
            for i in range(ROUNDS):
                for label, binary, conf in [("vpcnet", os.path.join(node.bin, "vpcnet-ipam"), vpcnet_conf),
                                            ("baseline", os.path.join(REFERENCE, "host-local"), host_local_conf)]:
                    add = dict(plugin_env, CNI_COMMAND="ADD", CNI_CONTAINERID=f"plugin-{label}-{i}")
                    delete = dict(add, CNI_COMMAND="DEL")
                    if cgroup.path:
                        elapsed, private = cgroup.run([binary], add, conf)
                        plugin[label][1].append(private / 1024)
                    else:
                        elapsed = timed([binary], add, conf)
                    plugin[label][0].append(elapsed)
                    timed([binary], delete, conf)
                    # Max RSS on a second ADD/DEL pair (GNU time's own fork would skew the timing).
                    add_again = dict(add, CNI_CONTAINERID=f"rss-{label}-{i}")
                    plugin[label][2].append(max_rss([binary], add_again, conf) / 1024)
                    timed([binary], dict(add_again, CNI_COMMAND="DEL"), conf)
        finally:
            cgroup.close()
        results["plugin time"] = (plugin["vpcnet"][0], plugin["baseline"][0])
        if plugin["vpcnet"][1]:
            results["plugin memory"] = (plugin["vpcnet"][1], plugin["baseline"][1])
        informational["plugin max RSS"] = (plugin["vpcnet"][2], plugin["baseline"][2])

        # 3. The daemon's own allocation time.
        text = urllib.request.urlopen(node.metrics + "/metrics", timeout=10).read().decode()
        total = float(re.search(r"^vpcnet_ipam_allocation_duration_seconds_sum(?:\{\})? (\S+)$", text, re.M).group(1))
        count = float(re.search(r"^vpcnet_ipam_allocation_duration_seconds_count(?:\{\})? (\S+)$", text, re.M).group(1))
        allocation_ms = total / count * 1000
    finally:
        node.close()
        api.stop()
        remove_directory(directory)

    failed = False
    print(f"vpcnet CNI benchmark: {ROUNDS} rounds, interleaved with the baseline (lower is better)\n")
    print(f"{'measure':<16}{'vpcnet':>14}{'baseline':>14}{'ratio':>8}{'target':>8}  result")
    for name, (ours_samples, base_samples) in results.items():
        unit = "MiB" if name == "plugin memory" else "ms"
        ours_value = statistics.median(ours_samples) * (1 if unit == "MiB" else 1000)
        base_value = statistics.median(base_samples) * (1 if unit == "MiB" else 1000)
        ratio = ours_value / base_value
        ok = ratio <= TARGETS[name]
        failed |= not ok
        print(f"{name:<16}{ours_value:>11.2f} {unit:<3}{base_value:>10.2f} {unit:<3}{ratio:>7.2f}×{TARGETS[name]:>7.1f}×  {'ok' if ok else 'MISSED'}")
    for name, (ours_samples, base_samples) in informational.items():
        ours_value, base_value = statistics.median(ours_samples), statistics.median(base_samples)
        print(f"{name:<16}{ours_value:>11.2f} MiB{base_value:>10.2f} MiB{ours_value / base_value:>7.2f}×{'-':>8}  "
              "(the binary's text pages, shared through the page cache, counted whole)")
    print(f"\nset-up p90: vpcnet {p90_ms(results['set-up'][0]):.2f} ms, baseline {p90_ms(results['set-up'][1]):.2f} ms")
    print(f"daemon allocation (fsync included): mean {allocation_ms:.2f} ms over {int(count)} ADDs, "
          f"{allocation_ms / median_ms(results['plugin time'][0]) * 100:.0f}% of the plugin's median ADD")
    print("baseline: ptp + host-local (Debian containernetworking-plugins); vpcnet: ptp + vpcnet-ipam + vpcnet-daemon")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
