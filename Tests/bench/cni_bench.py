#!/usr/bin/env python3
"""vpcnet's CNI path against the reference CNI path, side by side on this machine (`make bench`).

Each target is a ratio to a baseline measured in the same run, interleaved, so the machine's
speed and load cancel out:

1. Pod network set-up as a runtime does it (libcni through cnitool: ADD into a fresh namespace,
   then DEL): `ptp` + `vpcnet-ipam` (asking the daemon, which persists with fsync) against `ptp` +
   `host-local` (Debian's build of the upstream plugins). Target: median ≤ 1.3×.
2. The IPAM plugin alone, exec'd as ptp execs it: wall time and peak memory (max RSS) of
   `vpcnet-ipam` ADD against `host-local` ADD. Targets: median time ≤ 1.3×, peak memory ≤ 1.3×.
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


def timed(argv, env):
    """Wall time (s) of one command, which must succeed."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}{result.stdout.decode()}")
    return elapsed


def timed_rusage(argv, env, stdin):
    """Wall time and peak RSS (KiB) of one exec. GNU time forks from its own small process and
    reports the child's high-water mark (a fork of this Python process would carry its RSS)."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()}{result.stdout.decode()}")
    return elapsed, int(result.stderr.decode().strip().splitlines()[-1])


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
    results = {}
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
        plugin = {"vpcnet": ([], []), "baseline": ([], [])}
        for i in range(ROUNDS):
            for label, binary, conf in [("vpcnet", os.path.join(node.bin, "vpcnet-ipam"), vpcnet_conf),
                                        ("baseline", os.path.join(REFERENCE, "host-local"), host_local_conf)]:
                for command in ["ADD", "DEL"]:
                    e = dict(plugin_env, CNI_COMMAND=command, CNI_CONTAINERID=f"plugin-{label}-{i}")
                    elapsed, rss = timed_rusage([binary], e, conf)
                    if command == "ADD":
                        plugin[label][0].append(elapsed)
                        plugin[label][1].append(rss / 1024)
        results["plugin time"] = (plugin["vpcnet"][0], plugin["baseline"][0])
        results["plugin memory"] = (plugin["vpcnet"][1], plugin["baseline"][1])

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
    print(f"\nset-up p90: vpcnet {p90_ms(results['set-up'][0]):.2f} ms, baseline {p90_ms(results['set-up'][1]):.2f} ms")
    print(f"daemon allocation (fsync included): mean {allocation_ms:.2f} ms over {int(count)} ADDs, "
          f"{allocation_ms / median_ms(results['plugin time'][0]) * 100:.0f}% of the plugin's median ADD")
    print("baseline: ptp + host-local (Debian containernetworking-plugins); vpcnet: ptp + vpcnet-ipam + vpcnet-daemon")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
