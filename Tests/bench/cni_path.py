"""The per-pod path and the daemon's footprint: vpcnet (ptp + vpcnet-ipam + vpcnet-daemon) against
the reference path (ptp + host-local, Debian's build of the upstream plugins), interleaved in one
run so the machine's speed and load cancel out.

The daemon's run directory (socket and allocations) is a tmpfs, as /run is on every systemd host."""
import json
import os
import re
import subprocess
import time
import urllib.request

from daemon_harness import APIServer, Node, eni, make_directory, remove_directory
from report import Row, median, percentile
from spawn import Spawner, instructions
from support import CNITOOL, run

REFERENCE = "/usr/lib/cni"


def kib(pid, field):
    """A size field of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile), in MiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} for {pid}")


class Bench:
    def __init__(self, quick):
        self.quick = quick
        self.rounds = 8 if quick else 60
        self.full_node = 20 if quick else 110  # the kubelet's default max pods
        self.bursts = (4, 8) if quick else (16, 64)
        self.directory = make_directory()
        self.rows = []

    def run(self):
        directory = self.directory
        os.makedirs(os.path.join(directory, "run"), mode=0o700)
        tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=16m", "vpcnet-bench", os.path.join(directory, "run")],
                               capture_output=True, text=True).returncode == 0
        api = APIServer(directory)
        # Enough that a full node fits while the last burst's addresses cool down (1 s).
        addresses = [f"10.0.{1 + i // 250}.{1 + i % 250}" for i in range(self.full_node + 2 * max(self.bursts) + 40)]
        self.node = node = Node(api, directory, "bench", [eni(1, 1, addresses)])
        self.spawner = Spawner(directory)
        try:
            node.start()
            node.wait_ready()
            self.idle_rss = kib(node.proc.pid, "VmRSS")
            self.idle_split = (f"{kib(node.proc.pid, 'RssAnon'):.1f} MiB private, {kib(node.proc.pid, 'RssFile'):.1f} MiB pages of "
                               "the executable and libraries (clean, shared with the page cache)")
            self.write_baseline()
            self.setup_path()
            self.plugin_alone()
            self.concurrency()
            self.daemon_allocation()
            self.footprint()
        except BaseException:
            log = os.path.join(directory, "daemon.log")
            if os.path.exists(log):
                print(open(log).read()[-3000:])
            raise
        finally:
            self.spawner.close()
            node.close()
            api.stop()
            if tmpfs:
                subprocess.run(["umount", os.path.join(directory, "run")])
            remove_directory(directory)
        if not tmpfs:
            for row in self.rows:
                row.note += " (run directory not a tmpfs: mount failed)"
        return self.rows

    def write_baseline(self):
        with open(self.node.conflist) as f:
            self.ours = json.load(f)
        self.baseline = os.path.join(self.directory, "baseline.conflist")
        with open(self.baseline, "w") as f:
            json.dump({"cniVersion": self.ours["cniVersion"], "name": "baseline", "plugins": [{
                "type": "ptp", "mtu": self.ours["plugins"][0].get("mtu", 9001),
                "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.200.0.0/16"}]],
                         "dataDir": os.path.join(self.directory, "host-local")}}]}, f)
        self.plugin_env = {"CNI_PATH": f"{self.node.bin}:{REFERENCE}", "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": "eth0",
                           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench"}
        self.plugins = {
            "vpcnet": (os.path.join(self.node.bin, "vpcnet-ipam"), json.dumps(
                {"cniVersion": "1.0.0", "name": "vpcnet", "type": "vpcnet-ipam", "ipam": self.ours["plugins"][0]["ipam"]}).encode()),
            "host-local": (os.path.join(REFERENCE, "host-local"), json.dumps(
                {"cniVersion": "1.0.0", "name": "baseline", "type": "host-local",
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.201.0.0/16"}]],
                          "dataDir": os.path.join(self.directory, "host-local-2")}}).encode()),
        }

    def plugin_call(self, label, command, container):
        binary, conf = self.plugins[label]
        return [binary], dict(self.plugin_env, CNI_COMMAND=command, CNI_CONTAINERID=container), conf

    def setup_path(self):
        """ADD into a fresh namespace then DEL, through libcni (cnitool), as a runtime does it."""
        env = dict(os.environ, CNI_PATH=f"{self.node.bin}:{REFERENCE}", CNITOOL_CACHE_DIR=os.path.join(self.directory, "cache"),
                   K8S_POD_NAMESPACE="default", K8S_POD_NAME="bench")
        samples = {"vpcnet": [], "host-local": []}
        for i in range(self.rounds):
            order = [("vpcnet", self.node.conflist), ("host-local", self.baseline)]
            for label, conflist in order if i % 2 == 0 else reversed(order):
                name = f"bench-{os.getpid()}-{label}-{i}"
                run("ip", "netns", "add", name)
                path = f"/var/run/netns/{name}"
                add = self.spawner.time([CNITOOL, "add", conflist, path, name], env)
                delete = self.spawner.time([CNITOOL, "del", conflist, path, name], env)
                run("ip", "netns", "del", name)
                samples[label].append(add + delete)
                # The kernel tears a namespace down after `ip netns del` returns (a workqueue):
                # let it finish, or its work lands in the next sample, of whichever path is next.
                time.sleep(0.05)
        ours, base = median(samples["vpcnet"]) * 1000, median(samples["host-local"]) * 1000
        self.rows.append(Row("pod set-up: ADD+DEL via libcni, median", ours, "ms", base, "ptp + host-local", 1.0,
                             "stretch target 0.9×"))
        self.rows.append(Row("pod set-up: ADD+DEL via libcni, p90", percentile(samples["vpcnet"], 90) * 1000, "ms",
                             percentile(samples["host-local"], 90) * 1000, "ptp + host-local"))

    def plugin_alone(self):
        floor = [self.spawner.time(["/bin/true"], {}) for _ in range(self.rounds)]
        plugin = {"vpcnet": [], "host-local": []}
        for i in range(self.rounds):
            for label in plugin:
                argv, env, conf = self.plugin_call(label, "ADD", f"alone-{label}-{i}")
                plugin[label].append(self.spawner.time(argv, env, conf))
                argv, env, conf = self.plugin_call(label, "DEL", f"alone-{label}-{i}")
                self.spawner.time(argv, env, conf)
        floor_ms = median(floor) * 1000
        ours, base = median(plugin["vpcnet"]) * 1000 - floor_ms, median(plugin["host-local"]) * 1000 - floor_ms
        self.rows.append(Row("harness floor: exec of /bin/true, median", floor_ms, "ms", note="subtracted from the plugin rows"))
        self.rows.append(Row("IPAM plugin ADD alone, median less the floor", ours, "ms", base, "host-local", 1.0,
                             "vpcnet's includes the daemon's allocation"))
        counts = {label: [] for label in plugin}
        for i in range(3):
            for label in plugin:
                argv, env, conf = self.plugin_call(label, "ADD", f"counted-{label}-{i}")
                counts[label].append(instructions(argv, env, conf))
                argv, env, conf = self.plugin_call(label, "DEL", f"counted-{label}-{i}")
                self.spawner.time(argv, env, conf)
        spread = {label: (max(c) - min(c)) / median(c) * 100 for label, c in counts.items()}
        self.rows.append(Row("IPAM plugin ADD, instructions (callgrind)", median(counts["vpcnet"]), "instructions",
                             median(counts["host-local"]), "host-local", 1.0,
                             f"the plugin process only, median of 3 (spread: vpcnet {spread['vpcnet']:.1f} %, "
                             f"host-local {spread['host-local']:.1f} %: Go's runtime varies)"))

    def concurrency(self):
        for size in self.bursts:
            repeats = max(2, 128 // size) if not self.quick else 1
            times = {"vpcnet": [], "host-local": []}
            for r in range(repeats):
                for label in times if r % 2 == 0 else reversed(list(times)):
                    calls = [self.plugin_call(label, "ADD", f"burst{size}-{label}-{r}-{i}") for i in range(size)]
                    times[label] += self.spawner.burst(calls)
                    self.spawner.burst([self.plugin_call(label, "DEL", f"burst{size}-{label}-{r}-{i}") for i in range(size)])
            for p in (50, 99):
                self.rows.append(Row(f"{size} concurrent ADDs: p{p} per ADD", percentile(times["vpcnet"], p) * 1000, "ms",
                                     percentile(times["host-local"], p) * 1000, "host-local", 1.0,
                                     f"{len(times['vpcnet'])} ADDs each"))

    def daemon_allocation(self):
        text = urllib.request.urlopen(self.node.metrics + "/metrics", timeout=10).read().decode()
        total = float(re.search(r"^vpcnet_ipam_allocation_duration_seconds_sum(?:\{\})? (\S+)$", text, re.M).group(1))
        count = float(re.search(r"^vpcnet_ipam_allocation_duration_seconds_count(?:\{\})? (\S+)$", text, re.M).group(1))
        self.rows.append(Row("daemon: one allocation, persisted, mean", total / count * 1000, "ms",
                             note=f"over {int(count)} ADDs, from its histogram (in bursts, the wait for the pool counts too)"))

    def footprint(self):
        pid = self.node.proc.pid
        self.rows.append(Row("daemon RSS, idle (configured, no pods)", self.idle_rss, "MiB", 40, "bound", 1.0, self.idle_split))
        containers = [f"full-{i}" for i in range(self.full_node)]
        for container in containers:
            argv, env, conf = self.plugin_call("vpcnet", "ADD", container)
            self.spawner.time(argv, env, conf)
        self.rows.append(Row(f"daemon RSS, a full node ({self.full_node} pods)", kib(pid, "VmRSS"), "MiB", 40, "bound", 1.0))
        for container in containers:
            argv, env, conf = self.plugin_call("vpcnet", "DEL", container)
            self.spawner.time(argv, env, conf)
        # Sustained churn: bursts of 8 ADDs then their DELs.
        cycles = 5 if self.quick else 60
        for c in range(cycles):
            names = [f"churn-{c}-{i}" for i in range(8)]
            self.spawner.burst([self.plugin_call("vpcnet", "ADD", n) for n in names])
            self.spawner.burst([self.plugin_call("vpcnet", "DEL", n) for n in names])
        self.rows.append(Row(f"daemon peak RSS, after churn ({cycles * 8} pods)", kib(pid, "VmHWM"), "MiB", 40, "bound", 1.0,
                             "high-water mark of the whole run"))


def run_suite(quick):
    return Bench(quick).run()
