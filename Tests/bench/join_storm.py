"""Many nodes joining at once: the eni-controller alone (no namespaces) against the EC2 simulator with
EC2's default request throttling, and the Kubernetes API simulator. N Nodes are created at once;
the run ends when every one carries its full node network record.

The bound is the API budget: EC2 refills each action's token bucket at a fixed rate after its
burst, so an action needing C calls cannot finish before (C − burst) ÷ refill seconds. The bound is
the largest of these over the actions the run used (their buckets refill in parallel), computed
from the calls the simulator admitted in this very run and its buckets, which are EC2's
documented ones (`EC2RequestLimits`)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import boto3

from report import Row
from daemon_harness import free_port
from support import CONTROLLER, KEY, SECRET, SIM, scrape

# ENIs in a complete record (the primary and the pod ENIs) for 18 pod addresses (max-pods 20): an
# m5.large or t3.small needs two pod ENIs of single addresses, or one m5.large pod ENI with two /28s.
PER_NODE_ENIS = {"off": 3, "on": 2}
# The storm's max-pods: with the default (110) 1000 m5.large nodes with prefixes would need 7000
# /28s, and a VPC (/16) has 4096. At 20 both modes give each node the same 18 pods.
STORM_MAX_PODS = 20
SEEDING = ("CreateVpc", "CreateSubnet", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances")


def start(*argv):
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"{argv[:2]}: {line}")
    return proc, line.split()[-1].rstrip("/")


def proc_stat(pid):
    """CPU seconds (user + system) and peak RSS (MiB) of a live process."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:")) / 1024
    rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:")) / 1024
    return cpu, peak, rss


class World:
    """The simulators, N instances and their Nodes, and one controller."""

    def __init__(self, nodes, throttle=True, latency_ms=0, instance_type="m5.large", prefix_delegation="off"):
        self.directory = tempfile.mkdtemp(prefix="vpcnet-bench-storm-")
        self.kubeconfig = os.path.join(self.directory, "kubeconfig")
        ec2_args = ["--attach-delay", "0.05", "--detach-delay", "0.05"] + ([] if throttle else ["--no-throttle"])
        if latency_ms:
            ec2_args += ["--latency-ms", str(latency_ms)]
        self.ec2_proc, self.ec2_url = start(SIM, "ec2", "--listen", "127.0.0.1:0", *ec2_args)
        self.kube_proc, self.kube_url = start(SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", self.kubeconfig)
        self.ec2 = boto3.client("ec2", endpoint_url=self.ec2_url, region_name="us-east-1", aws_access_key_id=KEY,
                                aws_secret_access_key=SECRET)
        self.nodes = nodes
        self.prefix_delegation = prefix_delegation
        self.controller = None
        try:
            self.seed(throttle, instance_type)
        except BaseException:
            self.close()
            raise

    def seed(self, throttle, instance_type):
        # Seeding is not the benchmark (its actions have buckets of their own, but RunInstances
        # is limited by resource rate too).
        self.throttle(False)
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/16", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        self.group = self.ec2.create_security_group(VpcId=vpc, GroupName="nodes", Description="nodes")["GroupId"]
        self.instances = []
        while len(self.instances) < self.nodes:
            count = min(1000, self.nodes - len(self.instances))
            self.instances += [i["InstanceId"] for i in self.ec2.run_instances(
                ImageId="ami-12345678", InstanceType=instance_type, MinCount=count, MaxCount=count, SubnetId=self.subnet,
                SecurityGroupIds=[self.group])["Instances"]]
        self.throttle(throttle)

    def throttle(self, enabled):
        request = urllib.request.Request(self.ec2_url + "/_sim/throttle", data=json.dumps({"enabled": enabled}).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    def api(self, method, path, body=None):
        token = re.search(r"token: (\S+)", open(self.kubeconfig).read())
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token.group(1)}"
        request = urllib.request.Request(self.kube_url + path, data=json.dumps(body).encode() if body is not None else None,
                                         method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def create_nodes(self):
        for i, instance in enumerate(self.instances):
            self.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i:05d}"},
                                               "spec": {"providerID": f"aws:///us-east-1a/{instance}",
                                                        "taints": [{"key": "k8s-vpcnet/no-interface-configured", "effect": "NoSchedule"}]}})

    def start_controller(self, workers=None):
        self.metrics = f"http://127.0.0.1:{free_port()}"
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, AWS_ENDPOINT_URL_EC2=self.ec2_url, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, VPCNET_CLUSTER_NAME="bench",
                   VPCNET_METRICS_LISTEN=self.metrics.removeprefix("http://"), AWS_EC2_METADATA_DISABLED="true",
                   VPCNET_PREFIX_DELEGATION=self.prefix_delegation, VPCNET_MAX_PODS=str(STORM_MAX_PODS))
        if workers:
            env["VPCNET_WORKERS"] = str(workers)
        self.log = open(os.path.join(self.directory, "controller.log"), "w+")
        self.controller = subprocess.Popen([CONTROLLER, "--no-leader-elect"], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def provisioned_by_metrics(self):
        """The controller's own count (cheap to ask every half second, unlike listing N Nodes)."""
        try:
            return scrape(self.metrics).get(("vpcnet_controller_nodes", frozenset({("state", "provisioned")})), 0)
        except OSError:
            return 0

    def provisioned(self):
        """How many Nodes carry a complete record (every ENI their 18 pods need), as the API has them."""
        done = 0
        for node in self.api("GET", "/api/v1/nodes")["items"]:
            text = node["metadata"].get("annotations", {}).get("k8s-vpcnet/node-network")
            if text and len(json.loads(text)["enis"]) == PER_NODE_ENIS[self.prefix_delegation]:
                done += 1
        return done

    def wait_provisioned(self, timeout):
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.controller.poll() is not None:
                raise SystemExit(f"the controller exited: {open(self.log.name).read()[-3000:]}")
            if self.provisioned_by_metrics() >= self.nodes and self.provisioned() == self.nodes:
                return
            time.sleep(0.5)
        raise SystemExit(f"{self.provisioned()} of {self.nodes} nodes provisioned after {timeout} s; "
                         f"log: {open(self.log.name).read()[-2000:]}")

    def sim(self, path):
        return json.loads(urllib.request.urlopen(self.ec2_url + path, timeout=10).read())

    def bucket(self, action):
        """(capacity, refill per second) of the simulator's bucket for `action`."""
        buckets = self.sim("/_sim/throttle")
        chosen = buckets["actions"].get(action) or buckets["non_mutating" if action.startswith("Describe") else "mutating"]
        return chosen["capacity"], chosen["refill_per_second"]

    def calls(self):
        """EC2 calls and throttled answers by action, as the simulator saw them (seeding left out),
        and the controller's calls that failed for good (its metrics)."""
        state = self.sim("/_sim/state")
        calls = {a: c for a, c in state["calls"].items() if a not in SEEDING}
        throttled = {a: c for a, c in state["throttled"].items() if a not in SEEDING}
        failed = {}
        for (name, labels), value in scrape(self.metrics).items():
            labels = dict(labels)
            if name == "vpcnet_ec2_requests_total" and labels["outcome"] != "success":
                failed[labels["action"]] = failed.get(labels["action"], 0) + value
        return calls, throttled, failed

    def close(self):
        for proc in [self.controller, self.ec2_proc, self.kube_proc]:
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


MODES = {"on": "prefixes", "off": "/32 addresses"}


def storm(nodes, prefix_delegation):
    world = World(nodes, prefix_delegation=prefix_delegation)
    try:
        world.create_nodes()
        started = time.monotonic()
        world.start_controller()
        world.wait_provisioned(timeout=3600)
        elapsed = time.monotonic() - started
        cpu, peak, rss = proc_stat(world.controller.pid)
        calls, throttled, failed = world.calls()
        buckets = {action: world.bucket(action) for action in calls}
    finally:
        world.close()
    # Throttled answers spent no token: only admitted calls count against the bucket.
    admitted = {action: count - throttled.get(action, 0) for action, count in calls.items()}
    seconds = {action: max(0.0, count - buckets[action][0]) / buckets[action][1] for action, count in admitted.items()}
    limiting = max(seconds, key=seconds.get)
    bound = seconds[limiting]
    per_node = ", ".join(f"{action} {count / nodes:.2f}" for action, count in sorted(admitted.items()))
    label = f"{nodes} nodes join at once ({MODES[prefix_delegation]})"
    rows = [
        Row(f"{label}: all provisioned", elapsed, "s", bound or None, "API budget", 1.1 if bound else None,
            f"bound set by {limiting}: {admitted[limiting]:.0f} calls, bucket {buckets[limiting][0]:.0f} + {buckets[limiting][1]:g}/s"
            if bound else "every action stayed within its burst: no budget bound"),
        Row(f"{label}: EC2 calls per node (throttled ones left out)", sum(admitted.values()) / nodes, "calls", note=per_node),
        Row(f"{label}: throttled answers (RequestLimitExceeded)", sum(throttled.values()), "count",
            note=", ".join(f"{a} {c:.0f}" for a, c in sorted(throttled.items())) or "none"),
        Row(f"{label}: failed EC2 calls", int(sum(failed.values())), "count", 0, "", 0, "retries exhausted or refused",
            exact=True),
        Row(f"{label}: controller CPU", cpu, "s"),
        Row(f"{label}: controller peak RSS", peak, "MiB", 250, "bound", 1.0, f"{rss:.1f} MiB at the end"),
    ]
    return rows, elapsed, sum(admitted.values()) / nodes


def prefixes_against_singles(nodes):
    """The same join storm provisioned both ways (18 pods a node): /28 prefixes need one pod ENI where
    single addresses need two, so fewer calls per node and a lower API-budget bound."""
    with_prefixes, prefix_time, prefix_calls = storm(nodes, "on")
    with_singles, single_time, single_calls = storm(nodes, "off")
    return with_prefixes + with_singles + [
        Row(f"{nodes} nodes join at once: prefixes against /32 addresses, time", prefix_time, "s", single_time,
            "/32 addresses", 1.0, "all provisioned, 18 pods a node either way"),
        Row(f"{nodes} nodes join at once: prefixes against /32 addresses, EC2 calls per node", prefix_calls, "calls", single_calls,
            "/32 addresses", 1.0, "one pod ENI (create, attach, modify) instead of two"),
    ]


def footprint(nodes):
    """Controller memory with `nodes` Nodes and instances in its caches, provisioned without
    throttling (memory, not the API budget, is measured here)."""
    # 5000 m5.large nodes hold 105 000 addresses, more than a VPC (/16) has; t3.small nodes have as
    # many ENIs with fewer addresses each (9 per node).
    # Memory depends on the Nodes and ENIs cached, not on how addresses are grouped: /32s, which a
    # VPC has room for at 5000 nodes.
    world = World(nodes, throttle=False, instance_type="m5.large" if nodes <= 1000 else "t3.small")
    try:
        world.create_nodes()
        world.start_controller()
        world.wait_provisioned(timeout=3600)
        time.sleep(2)
        _, peak, rss = proc_stat(world.controller.pid)
    finally:
        world.close()
    return [Row(f"controller RSS with {nodes} nodes", rss, "MiB", 250, "bound", 1.0, f"peak {peak:.1f} MiB while provisioning them")]


def run_suite(quick):
    if quick:
        return prefixes_against_singles(20) + footprint(40)
    return prefixes_against_singles(1000) + footprint(1000) + footprint(5000)
