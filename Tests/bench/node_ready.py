"""Node ready time: from a Node's creation to the node taking pods (the no-interface-configured taint
gone and the CNI configuration written), in the simulated cluster with EC2's latencies set to
published AWS behaviour, against the critical path of dependent steps the design needs:
describe → create → attach → attached → device seen (→ configured, the daemon's own work, which
the ratio's margin covers together with the API round trips).

Figures (docs/performance.md gives the sources): Describe* 100 ms, CreateNetworkInterface 500 ms,
AttachNetworkInterface 740 ms, ModifyNetworkInterfaceAttribute 340 ms, AssignPrivateIpAddresses
500 ms; an attachment is `attached` 3 s after the call; its device appears 1 s after that."""
import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import yaml

from report import Row, median
from support import SIM

LATENCY_MS = {"*": 100, "CreateNetworkInterface": 500, "AttachNetworkInterface": 740, "ModifyNetworkInterfaceAttribute": 340,
              "AssignPrivateIpAddresses": 500}
ATTACH_MS, HOTPLUG_MS = 3000, 1000
TAINT = "k8s-vpcnet/no-interface-configured"
RECORD = "k8s-vpcnet/node-network"


def critical_path_seconds():
    latency = lambda action: LATENCY_MS.get(action, LATENCY_MS["*"])  # noqa: E731
    return (latency("DescribeInstances") + latency("CreateNetworkInterface") + latency("AttachNetworkInterface")
            + ATTACH_MS + HOTPLUG_MS) / 1000


class Watcher:
    """Polls the API (every 50 ms) and each node's CNI directory: when each Node first appeared, when
    it first carried the controller's record (the controller's share ends there) and when it first
    took pods."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.created, self.recorded, self.ready = {}, {}, {}
        self.stop = threading.Event()
        self.thread = None

    def connect(self):
        kubeconfig = yaml.safe_load(open(os.path.join(self.state_dir, "kubeconfig")))
        cluster, user = kubeconfig["clusters"][0]["cluster"], kubeconfig["users"][0]["user"]
        self.server, self.token, ca = cluster["server"], user.get("token"), cluster.get("certificate-authority-data")
        self.context = ssl.create_default_context(cadata=base64.b64decode(ca).decode()) if ca else None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def nodes(self):
        request = urllib.request.Request(self.server + "/api/v1/nodes", headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            return json.loads(response.read())["items"]

    def directories(self):
        try:
            state = json.load(open(os.path.join(self.state_dir, "cluster.json")))
        except (OSError, ValueError):
            return {}
        return {n["name"]: n["directory"] for n in state.get("nodes", [])}

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                nodes, directories = self.nodes(), self.directories()
            except OSError:
                time.sleep(0.05)
                continue
            for node in nodes:
                name = node["metadata"]["name"]
                self.created.setdefault(name, now)
                if RECORD in node["metadata"].get("annotations", {}):
                    self.recorded.setdefault(name, now)
                tainted = any(t["key"] == TAINT for t in node.get("spec", {}).get("taints", []))
                conflist = directories.get(name) and os.path.exists(os.path.join(directories[name], "cni", "net.d", "10-vpcnet.conflist"))
                if not tainted and conflist and name not in self.ready:
                    self.ready[name] = now
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join()


def cluster(nodes):
    """Brings up `nodes` nodes with the latencies above and measures each one's ready time."""
    state_dir = tempfile.mkdtemp(prefix="vpcnet-bench-ready-")
    os.chmod(state_dir, 0o700)
    os.rmdir(state_dir)
    watcher = Watcher(state_dir)
    latency = ",".join(f"{action}={ms}" for action, ms in LATENCY_MS.items())
    up = subprocess.Popen([SIM, "up", "--state-dir", state_dir, "--nodes", str(nodes), "--attach-delay-ms", str(ATTACH_MS),
                           "--ec2-latency-ms", latency, "--hotplug-delay-ms", str(HOTPLUG_MS)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(state_dir, "kubeconfig")):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"vpcnet-sim up failed: {up.stdout.read()}")
            time.sleep(0.02)
        watcher.connect()
        output = up.communicate(timeout=900)[0]
        if up.returncode != 0:
            raise SystemExit(f"vpcnet-sim up failed: {output}")
        deadline = time.monotonic() + 60
        while len(watcher.ready) < nodes and time.monotonic() < deadline:
            time.sleep(0.05)
        calls = ec2_calls(state_dir)
    finally:
        watcher.close()
        subprocess.run([SIM, "down", "--state-dir", state_dir], capture_output=True, timeout=300)
    done = [n for n in watcher.ready if n in watcher.created]
    if len(done) < nodes:
        raise SystemExit(f"only {len(done)} of {nodes} nodes took pods")
    times = [watcher.ready[n] - watcher.created[n] for n in done]
    # The record can appear in the same poll as readiness: then the split is unknown for that node.
    split = [(watcher.recorded[n] - watcher.created[n], watcher.ready[n] - watcher.recorded[n]) for n in done if n in watcher.recorded]
    span = max(watcher.ready.values()) - min(watcher.created.values())
    return times, span, calls, split


def split_note(split):
    if not split:
        return ""
    return (f"median {median([c for c, _ in split]):.2f} s to the controller's record, "
            f"{median([d for _, d in split]):.2f} s from it to taking pods")


def ec2_calls(state_dir):
    """Calls the EC2 simulator received by action, less the simulated cluster's own (the VPC and
    its instances: CreateVpc, CreateSubnet, CreateSecurityGroup, RunInstances)."""
    state = json.load(open(os.path.join(state_dir, "cluster.json")))
    answer = json.loads(urllib.request.urlopen(state["ec2Endpoint"].rstrip("/") + "/_sim/state", timeout=10).read())
    return {action: count for action, count in answer["calls"].items()
            if action not in ("CreateVpc", "CreateSubnet", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances", "TerminateInstances")}


def run_suite(quick):
    path = critical_path_seconds()
    rows = []
    one, _, calls, split = cluster(1)
    rows.append(Row("node ready: one node", median(one), "s", path, "critical path", 1.2, split_note(split)))
    if calls:
        rows.append(Row("node ready: EC2 calls for one node", sum(calls.values()), "calls",
                        note=", ".join(f"{a} {c}" for a, c in sorted(calls.items()))))
    batch = 3 if quick else 20
    times, span, batch_calls, split = cluster(batch)
    rows.append(Row(f"node ready: batch of {batch}, median", median(times), "s", path, "critical path", 1.2, split_note(split)))
    rows.append(Row(f"node ready: batch of {batch}, slowest", max(times), "s", path, "critical path", 1.2,
                    f"whole batch {span:.1f} s from the first Node to the last ready"))
    if batch_calls:
        rows.append(Row("node ready: EC2 calls per node in the batch", sum(batch_calls.values()) / batch, "calls",
                        note=", ".join(f"{a} {c / batch:.1f}" for a, c in sorted(batch_calls.items()))))
    return rows
