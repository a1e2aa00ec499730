"""End-to-end: the whole system in `vpcnet-sim` (simulated VPC, EC2 and Kubernetes; vpcnet's
controller, daemons and plugin for real), driven with kubectl, boto3 and the pods' own network
namespaces. Root only: network namespaces. Every test tears its cluster down, also on failure."""
import concurrent.futures
import ipaddress
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest

from daemon_harness import IPAMStub
from support import IS_ROOT, KEY, SECRET, SIM, wait_for

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="the simulated cluster needs root (network namespaces); CI runs it as root")



class Cluster:
    def __init__(self, state_dir):
        self.state_dir = state_dir

    @property
    def state(self):
        return json.load(open(os.path.join(self.state_dir, "cluster.json")))

    def kubectl(self, *args, input=None, check=True):
        result = subprocess.run(["kubectl", "--kubeconfig", os.path.join(self.state_dir, "kubeconfig"), *args], input=input,
                                capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def pods(self, selector=None):
        args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.kubectl(*args))["items"]

    def create_pods(self, count, prefix, **spec):
        documents = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{prefix}-{i}", "labels": {"app": prefix}},
                      "spec": {"containers": [{"name": "app", "image": "pause"}], **spec}} for i in range(count)]
        self.kubectl("apply", "-f", "-", input="\n".join(json.dumps(document) for document in documents))

    def refused(self, prefix):
        """Pods named PREFIX-N that were told no: the scheduler could not place them, or their
        node's kubelet could not give them a network (FailedScheduling, FailedCreatePodSandBox Events)."""
        events = json.loads(self.kubectl("get", "events", "-o", "json"))["items"]
        return {e["involvedObject"]["name"] for e in events
                if e.get("reason") in ("FailedScheduling", "FailedCreatePodSandBox") and e["involvedObject"]["name"].startswith(prefix + "-")}

    def running(self, selector):
        return [p for p in self.pods(selector) if p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")]

    def exec(self, pod, *command, check=True):
        result = subprocess.run([SIM, "exec", "--state-dir", self.state_dir, pod, "--", *command], capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"exec {pod} {' '.join(command)}: {result.stdout}{result.stderr}"
        return result

    def node(self, name):
        return next(n for n in self.state["nodes"] if n["name"] == name)

    def daemon_pid(self, node):
        return process_with("vpcnet-daemon", f"--node-name\0{node}\0", self.state_dir)

    def ec2(self):
        return boto3.client("ec2", endpoint_url=self.state["ec2Endpoint"], region_name="us-east-1", aws_access_key_id=KEY,
                            aws_secret_access_key=SECRET)

    def ipam(self, node):
        return IPAMStub(os.path.join(self.node(node)["directory"], "run", "ipam.sock"), self.state_dir)


def process_with(executable, fragment, state_dir):
    """A process of this cluster only (its command line names the state directory)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if executable in cmdline and fragment in cmdline and state_dir in cmdline:
            return int(pid)
    return None


def up(state_dir, *args, background=False):
    argv = [SIM, "up", "--state-dir", state_dir, *args]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def cluster_dir():
    directory = tempfile.mkdtemp(prefix="vpcnet-sim-")
    yield directory
    result = subprocess.run([SIM, "down", "--state-dir", directory], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(directory)


def test_the_demo_passes_every_check():
    directory = tempfile.mkdtemp(prefix="vpcnet-demo-")
    try:
        result = subprocess.run([SIM, "demo", "--state-dir", directory], capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run([SIM, "down", "--state-dir", directory], capture_output=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for check in ["pod → pod, same node", "pod → pod, other zone", "pod → node", "pod → internet (SNAT)", "pod → pod, TCP :80",
                  "pod → hostPort, other node", "pod → Service, TCP :80", "pod → Service, UDP :53",
                  "internet → NodePort (Local, source kept)", "pod → instance metadata (blocked)", "node → instance metadata"]:
        assert re.search(rf"✓ {re.escape(check)}", output), output
    assert "✗" not in output
    assert len(re.findall(r"^demo-\d+ ", output, re.M)) == 40
    assert not os.path.exists(directory), "the demo tears down after itself"


def test_pods_get_vpc_addresses_and_survive_a_daemon_crash(cluster_dir):
    up(cluster_dir, "--nodes", "2")
    cluster = Cluster(cluster_dir)
    cluster.create_pods(6, "web")
    pods = wait_for("6 pods running", lambda: len(cluster.running("app=web")) == 6 and cluster.running("app=web"), timeout=120)
    addresses = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}
    assert len(set(addresses.values())) == 6 and all(a.startswith("10.0.") for a in addresses.values())

    node = pods[0]["spec"]["nodeName"]
    before = {a.attachment.container_id: a.address for a in cluster.ipam(node).status().allocations}
    pid = cluster.daemon_pid(node)
    assert pid
    os.kill(pid, signal.SIGKILL)
    # The pods' datapath is in the kernel: it does not depend on the daemon process.
    for name, address in addresses.items():
        other = next(n for n, a in addresses.items() if n != name)
        cluster.exec(name, "ping", "-c", "1", "-W", "2", addresses[other])
    wait_for("the daemon is back", lambda: (cluster.daemon_pid(node) or pid) != pid, timeout=60)
    wait_for("the daemon serves again", lambda: _allocations(cluster, node) == before, timeout=60)
    cluster.exec(pods[0]["metadata"]["name"], "ping", "-c", "1", "-W", "2", cluster.state["internetHost"])


def _allocations(cluster, node):
    try:
        return {a.attachment.container_id: a.address for a in cluster.ipam(node).status().allocations}
    except Exception:
        return None


def sim_calls(cluster):
    """EC2 calls the simulator answered, by action (the control API; not an EC2 action)."""
    with urllib.request.urlopen(cluster.state["ec2Endpoint"] + "/_sim/state") as response:
        return json.load(response)["calls"]


def pod_enis(cluster, name):
    node = json.loads(cluster.kubectl("get", "node", name, "-o", "json"))
    record = json.loads(node["metadata"]["annotations"]["k8s-vpcnet/node-network"])
    return node, record, [e for e in record["enis"] if e["deviceIndex"] != 0]


def test_prefix_delegation_gives_an_m5_large_one_eni_of_seven_prefixes_and_its_pods_work(cluster_dir):
    up(cluster_dir, "--nodes", "2", "--prefix-delegation", "on")
    cluster = Cluster(cluster_dir)
    nodes = [n["name"] for n in cluster.state["nodes"]]
    # Each node costs one ENI, created with its 7 prefixes, attached, DeleteOnTermination set:
    # no AssignPrivateIpAddresses, and no second ENI.
    calls = sim_calls(cluster)
    assert (calls.get("CreateNetworkInterface"), calls.get("AttachNetworkInterface")) == (2, 2), calls
    assert "AssignPrivateIpAddresses" not in calls and calls.get("ModifyNetworkInterfaceAttribute") == 2, calls
    prefixes = {}
    for name in nodes:
        node, record, enis = pod_enis(cluster, name)
        assert record["version"] == 2 and len(enis) == 1, record
        assert len(enis[0]["ipv4Prefixes"]) == 7 and enis[0]["secondaryIPs"] == [], enis
        assert node["metadata"]["labels"]["k8s-vpcnet/pod-capacity"] == "110"
        prefixes[name] = [ipaddress.ip_network(p) for p in enis[0]["ipv4Prefixes"]]
        # EC2 (boto3's reading of it) agrees with the record.
        eni = cluster.ec2().describe_network_interfaces(NetworkInterfaceIds=[enis[0]["id"]])["NetworkInterfaces"][0]
        assert sorted(p["Ipv4Prefix"] for p in eni["Ipv4Prefixes"]) == sorted(enis[0]["ipv4Prefixes"])

    # 200 pods on 2 nodes: more than 5 times what single addresses would hold (2 × 18).
    cluster.create_pods(200, "dense")
    pods = wait_for("200 pods running", lambda: len(cluster.running("app=dense")) == 200 and cluster.running("app=dense"), timeout=400)
    addresses = [p["status"]["podIP"] for p in pods]
    assert len(set(addresses)) == 200
    for pod in pods:
        address = ipaddress.ip_address(pod["status"]["podIP"])
        assert any(address in prefix for prefix in prefixes[pod["spec"]["nodeName"]]), pod["metadata"]["name"]
    here = next(p for p in pods if p["spec"]["nodeName"] == nodes[0])
    there = next(p for p in pods if p["spec"]["nodeName"] == nodes[1])
    cluster.exec(here["metadata"]["name"], "ping", "-c", "1", "-W", "2", there["status"]["podIP"])  # across the fabric, other zone
    cluster.exec(there["metadata"]["name"], "ping", "-c", "1", "-W", "2", here["status"]["podIP"])
    cluster.exec(here["metadata"]["name"], "ping", "-c", "1", "-W", "2", cluster.node(nodes[0])["primaryIP"])  # its node
    cluster.exec(here["metadata"]["name"], "ping", "-c", "1", "-W", "2", cluster.state["internetHost"])  # SNAT
    metadata = "exec 3<>/dev/tcp/169.254.169.254/80 && printf 'GET /latest/meta-data/ HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
    assert cluster.exec(here["metadata"]["name"], "timeout", "3", "bash", "-c", metadata, check=False).returncode != 0
    assert sim_calls(cluster).get("AssignPrivateIpAddresses") is None, "pod start never calls EC2"
    # The daemon killed under running prefix pods: it comes back with every allocation, none twice.
    before = _allocations(cluster, nodes[0])
    assert len(before) == sum(p["spec"]["nodeName"] == nodes[0] for p in pods)
    pid = cluster.daemon_pid(nodes[0])
    os.kill(pid, signal.SIGKILL)
    wait_for("the daemon is back", lambda: (cluster.daemon_pid(nodes[0]) or pid) != pid, timeout=60)
    wait_for("the daemon serves every allocation again", lambda: _allocations(cluster, nodes[0]) == before, timeout=60)
    cluster.exec(here["metadata"]["name"], "ping", "-c", "1", "-W", "2", there["status"]["podIP"])


def test_a_fragmented_subnet_gives_a_new_node_single_addresses_and_its_pods_work(cluster_dir):
    up(cluster_dir, "--nodes", "1", "--zones", "us-east-1a", "--prefix-delegation", "on")
    cluster = Cluster(cluster_dir)
    ec2 = cluster.ec2()
    subnet = ec2.describe_subnets()["Subnets"][0]
    # One address taken in every free /28, as any script can: no aligned /28 is left. (512 creates:
    # the script's own bucket is raised so EC2's throttling does not make it slow.)
    request = urllib.request.Request(cluster.state["ec2Endpoint"] + "/_sim/throttle", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"action": "CreateNetworkInterface", "capacity": 10000, "refill_per_second": 10000}).encode())
    urllib.request.urlopen(request).close()

    def take(block):
        try:
            ec2.create_network_interface(SubnetId=subnet["SubnetId"], PrivateIpAddress=str(block.network_address + 8))
        except ec2.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "InvalidIPAddress.InUse", error  # the first node's prefixes
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(take, ipaddress.ip_network(subnet["CidrBlock"]).subnets(new_prefix=28)))
    result = subprocess.run([SIM, "add-node", "--state-dir", cluster_dir], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    name = result.stdout.split()[0]
    node, record, enis = pod_enis(cluster, name)
    assert record["version"] == 1, "no prefixes: the record stays at the version every reader knows"
    assert len(enis) == 2 and all(e.get("ipv4Prefixes", []) == [] and len(e["secondaryIPs"]) == 9 for e in enis), enis
    assert node["metadata"]["labels"]["k8s-vpcnet/pod-capacity"] == "20"
    events = json.loads(cluster.kubectl("get", "events", "-o", "json"))["items"]
    fallback = [e for e in events if e["reason"] == "PrefixDelegationFallback" and e["involvedObject"]["name"] == name]
    assert fallback and subnet["SubnetId"] in fallback[0]["message"] and "0 free /28 prefixes" in fallback[0]["message"], fallback
    cluster.create_pods(4, "fallback", nodeName=name)
    pods = wait_for("4 pods running", lambda: len(cluster.running("app=fallback")) == 4 and cluster.running("app=fallback"), timeout=120)
    singles = {a for e in enis for a in e["secondaryIPs"]}
    assert {p["status"]["podIP"] for p in pods} <= singles
    first = cluster.state["nodes"][0]["name"]
    cluster.create_pods(1, "elsewhere", nodeName=first)
    other = wait_for("a pod on the first node", lambda: cluster.running("app=elsewhere"), timeout=60)[0]
    cluster.exec(pods[0]["metadata"]["name"], "ping", "-c", "1", "-W", "2", other["status"]["podIP"])
    cluster.exec(pods[1]["metadata"]["name"], "ping", "-c", "1", "-W", "2", cluster.state["internetHost"])


def test_pods_answer_on_their_ports_and_a_host_port_reaches_one_from_another_node(cluster_dir):
    """The kubelet starts `vpcnet-sim serve` on each pod's containerPorts (TCP and UDP) and passes
    its hostPorts to portmap as containerd does; pods sit on the nodes' pod ENIs (prefixes)."""
    up(cluster_dir, "--nodes", "2")
    cluster = Cluster(cluster_dir)
    nodes = cluster.state["nodes"]
    serving = [{"name": "app", "image": "agnhost", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}]
    cluster.create_pods(1, "web", nodeName=nodes[0]["name"], containers=serving)
    cluster.create_pods(1, "hp", nodeName=nodes[0]["name"],
                        containers=[{"name": "app", "image": "agnhost", "ports": [{"containerPort": 80, "hostPort": 8080}]}])
    cluster.create_pods(1, "client", nodeName=nodes[1]["name"])
    for prefix in ["web", "hp", "client"]:
        wait_for(f"{prefix} runs", lambda: cluster.running(f"app={prefix}"), timeout=120)
    web, client = cluster.running("app=web")[0], cluster.running("app=client")[0]

    def ask(target, *flags, check=True):
        return cluster.exec("client-0", SIM, "ask", target, *flags, check=check)

    wait_for("web-0 serves", lambda: ask(f"{web['status']['podIP']}:80", check=False).returncode == 0, timeout=30)
    assert ask(f"{web['status']['podIP']}:80").stdout.strip() == f"web-0 saw {client['status']['podIP']}", "TCP, across nodes, source kept"
    assert ask(f"{web['status']['podIP']}:53", "--udp").stdout.strip() == f"web-0 saw {client['status']['podIP']}"
    host_port = f"{nodes[0]['primaryIP']}:8080"
    wait_for("the hostPort answers", lambda: ask(host_port, check=False).returncode == 0, timeout=30)
    assert ask(host_port).stdout.startswith("hp-0 saw "), "another node reaches the pod through its node's hostPort"
    cluster.kubectl("delete", "pod", "hp-0", "--wait=true")
    wait_for("DEL removed the mapping", lambda: ask(host_port, "--timeout", "1", check=False).returncode != 0, timeout=60)


def test_services_through_kube_proxys_rules_reach_pods_across_nodes_and_zones_and_survive_the_daemon(cluster_dir):
    """The simulator's service proxy writes kube-proxy's iptables rules (EKS's configuration) into
    every node; vpcnet's datapath must carry what they DNAT: ClusterIP (TCP, UDP, hairpin),
    NodePort from the internet and from another node with both traffic policies, and a connection
    through a Service must outlive daemon restarts and a datapath reconcile."""
    up(cluster_dir, "--nodes", "2")
    cluster = Cluster(cluster_dir)
    nodes = cluster.state["nodes"]
    assert nodes[0]["zone"] != nodes[1]["zone"]
    serving = [{"name": "app", "image": "agnhost", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}]
    cluster.create_pods(1, "web", nodeName=nodes[0]["name"], containers=serving)
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "labels": {"app": "web", "side": "far"}},
                                                          "spec": {"nodeName": nodes[1]["name"], "containers": serving}}))
    cluster.create_pods(1, "client", nodeName=nodes[0]["name"])
    services = [
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}},
        {"metadata": {"name": "edge"}, "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"metadata": {"name": "edge-local"}, "spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "selector": {"app": "web"},
                                                      "ports": [{"port": 80, "targetPort": 8080}]}},
    ]
    cluster.kubectl("apply", "-f", "-", input="\n".join(json.dumps({"apiVersion": "v1", "kind": "Service", **s}) for s in services))
    for prefix, count in [("web", 2), ("client", 1)]:
        wait_for(f"{prefix} runs", lambda: len(cluster.running(f"app={prefix}")) == count, timeout=120)
    pods = {p["metadata"]["name"]: p["status"]["podIP"] for p in cluster.pods()}
    svc = {s["metadata"]["name"]: s["spec"] for s in json.loads(cluster.kubectl("get", "svc", "-o", "json"))["items"]}
    cluster_ip = svc["web"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network("172.20.0.0/16")
    wait_for("the endpoint slice lists both pods", lambda: sorted(
        e["addresses"][0] for sl in json.loads(cluster.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json"))["items"]
        for e in sl.get("endpoints", [])) == sorted([pods["web-0"], pods["web-1"]]), timeout=30)
    inet = cluster.state["prefix"] + "-inet"

    def ask(pod, target, *flags, check=True):
        return cluster.exec(pod, SIM, "ask", target, "--timeout", "2", *flags, check=check)

    def ask_from(namespace, target):
        result = subprocess.run(["ip", "netns", "exec", namespace, SIM, "ask", target, "--timeout", "2"], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() if result.returncode == 0 else result.stderr.strip()

    def answers(call, tries=24):
        """Who answered (`NAME saw SOURCE` → {(NAME, SOURCE)}), over enough tries to meet every backend."""
        return {tuple(line.split(" saw ")) for line in (call() for _ in range(tries)) if " saw " in line}

    client = pods["client-0"]
    wait_for("the cluster IP answers", lambda: ask("client-0", f"{cluster_ip}:80", check=False).returncode == 0, timeout=30)
    # Same node and the other node (the other zone), source kept: no masquerade without --cluster-cidr, as on EKS.
    assert answers(lambda: ask("client-0", f"{cluster_ip}:80").stdout.strip()) == {("web-0", client), ("web-1", client)}
    assert answers(lambda: ask("client-0", f"{cluster_ip}:53", "--udp").stdout.strip()) == {("web-0", client), ("web-1", client)}
    # In-cluster clients reach the API through default/kubernetes (its slice points at the API inside the VPC).
    version = cluster.exec("client-0", "python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                           "'http://172.20.0.1:443/version', timeout=5).read().decode())").stdout
    assert "gitVersion" in version
    # Hairpin: a pod reaching itself through its Service is masqueraded (KUBE-SEP's -s rule) and answers.
    assert "web-0" in {name for name, _ in answers(lambda: ask("web-0", f"{cluster_ip}:80").stdout.strip())}

    node_port = {name: svc[name]["ports"][0]["nodePort"] for name in ["edge", "edge-local"]}
    internet = cluster.state["internetHost"]
    for node in nodes:
        target = f"{node['primaryIP']}:{node_port['edge']}"
        wait_for(f"NodePort on {node['name']}", lambda: " saw " in ask_from(inet, target), timeout=30)
        seen = answers(lambda: ask_from(inet, target))
        # Cluster policy: both backends, the client masqueraded to the node (so replies return through it).
        assert {name for name, _ in seen} == {"web-0", "web-1"} and internet not in {source for _, source in seen}, seen
        local = f"{node['primaryIP']}:{node_port['edge-local']}"
        # Local policy: this node's pod only, on a secondary ENI, with the internet client's address, answered out of eth0.
        expected = "web-0" if node is nodes[0] else "web-1"
        assert answers(lambda: ask_from(inet, local), tries=6) == {(expected, internet)}
    other_node = answers(lambda: ask_from(nodes[1]["namespace"], f"{nodes[0]['primaryIP']}:{node_port['edge']}"))
    assert {name for name, _ in other_node} == {"web-0", "web-1"}, "another node reaches a NodePort"

    # A connection through the Service to the pod in the other zone, held while both daemons are
    # killed, come back, and a reconcile rewrites a chain someone flushed.
    far = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "far"},
           "spec": {"selector": {"side": "far"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(far))
    far_ip = json.loads(cluster.kubectl("get", "svc", "far", "-o", "json"))["spec"]["clusterIP"]
    wait_for("far answers", lambda: ask("client-0", f"{far_ip}:80", check=False).returncode == 0, timeout=30)
    hold = subprocess.Popen([SIM, "exec", "--state-dir", cluster_dir, "client-0", "--", SIM, "ask", f"{far_ip}:80", "--hold", "12", "--timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    for node in nodes:
        pid = cluster.daemon_pid(node["name"])
        os.kill(pid, signal.SIGKILL)
        wait_for("the daemon is back", lambda: (cluster.daemon_pid(node["name"]) or pid) != pid, timeout=30)
    subprocess.run(["ip", "netns", "exec", nodes[0]["namespace"], "iptables", "-t", "nat", "-F", "VPCNET-SNAT"], check=True)
    cluster.kubectl("label", "node", nodes[0]["name"], "vpcnet-test/reconcile=now")  # a change of its Node runs a pass
    wait_for("the reconcile restores the flushed chain", lambda: "-A VPCNET-SNAT" in subprocess.run(
        ["ip", "netns", "exec", nodes[0]["namespace"], "iptables", "-t", "nat", "-S", "VPCNET-SNAT"], capture_output=True, text=True).stdout, timeout=30)
    output, _ = hold.communicate(timeout=60)
    assert hold.returncode == 0 and "held for 12.0 s" in output, output
    assert ask("client-0", f"{cluster_ip}:80").returncode == 0, "kube-proxy's rules outlived the daemon's rewrite"

    # Endpoints follow pods; a Service with none rejects at once (kube-proxy's REJECT), and a deleted Service's rules go.
    cluster.kubectl("delete", "pod", "web-0", "web-1", "--wait=true")
    wait_for("no endpoints: refused", lambda: "refused" in ask("client-0", f"{cluster_ip}:80", check=False).stderr, timeout=30)
    cluster.kubectl("delete", "service", "web")
    wait_for("the deleted Service's rules are gone", lambda: cluster_ip not in subprocess.run(
        ["ip", "netns", "exec", nodes[0]["namespace"], "iptables-save"], capture_output=True, text=True).stdout, timeout=30)


def test_deployments_make_service_backends_scale_and_roll_and_a_daemonset_runs_on_every_node(cluster_dir):
    """The simulated control plane's workload controllers, driven with kubectl as on a real cluster:
    a Deployment's ReplicaSet makes the pods a Service sends to; `kubectl scale`, `rollout restart`
    and `rollout status` work; a DaemonSet's pods run on every node."""
    up(cluster_dir, "--nodes", "2")
    cluster = Cluster(cluster_dir)
    labels = {"app": "web"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": "app", "image": "agnhost", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]}}
    daemon_set = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
                  "spec": {"selector": {"matchLabels": {"app": "agent"}},
                           "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent"}]}}}}
    cluster.kubectl("apply", "-f", "-", input="\n".join(json.dumps(d) for d in [deployment, service, daemon_set]))
    assert "successfully rolled out" in cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    sets = json.loads(cluster.kubectl("get", "rs", "-o", "json"))["items"]
    assert len(sets) == 1 and sets[0]["metadata"]["ownerReferences"][0]["name"] == "web"
    pods = cluster.running("app=web")
    assert len(pods) == 3 and all(p["metadata"]["ownerReferences"][0]["name"] == sets[0]["metadata"]["name"] for p in pods)
    assert all(p["metadata"]["labels"]["pod-template-hash"] == sets[0]["metadata"]["labels"]["pod-template-hash"] for p in pods)

    cluster.create_pods(1, "client")
    wait_for("client runs", lambda: cluster.running("app=client"), timeout=60)
    cluster_ip = json.loads(cluster.kubectl("get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]

    def backends(tries=30):
        seen = set()
        for _ in range(tries):
            result = cluster.exec("client-0", SIM, "ask", f"{cluster_ip}:80", "--timeout", "2", check=False)
            if result.returncode == 0:
                seen.add(result.stdout.split(" saw ")[0])
        return seen

    names = {p["metadata"]["name"] for p in pods}
    wait_for("the Service reaches every replica", lambda: backends() == names, timeout=60)

    cluster.kubectl("scale", "deployment/web", "--replicas=5")
    wait_for("5 replicas", lambda: len(cluster.running("app=web")) == 5, timeout=60)
    assert "successfully rolled out" in cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")

    cluster.kubectl("rollout", "restart", "deployment/web")
    assert "successfully rolled out" in cluster.kubectl("rollout", "status", "deployment/web", "--timeout=180s")
    sets = json.loads(cluster.kubectl("get", "rs", "-o", "json"))["items"]
    replicas = sorted((s["metadata"]["annotations"]["deployment.kubernetes.io/revision"], s["spec"]["replicas"]) for s in sets)
    assert replicas == [("1", 0), ("2", 5)], replicas
    renewed = {p["metadata"]["name"] for p in cluster.running("app=web")}
    assert len(renewed) == 5 and not renewed & names, "every pod was replaced"
    wait_for("the Service follows the new pods", lambda: backends() <= renewed and backends(), timeout=60)

    nodes = {n["name"] for n in cluster.state["nodes"]}
    agents = wait_for("an agent on every node", lambda: (lambda pods: {p["spec"]["nodeName"] for p in pods} == nodes and pods)(
        [p for p in json.loads(cluster.kubectl("get", "pods", "-n", "kube-system", "-l", "app=agent", "-o", "json"))["items"]
         if p.get("status", {}).get("phase") == "Running"]), timeout=60)
    assert len(agents) == len(nodes)
    status = json.loads(cluster.kubectl("get", "ds", "agent", "-n", "kube-system", "-o", "json"))["status"]
    assert status["desiredNumberScheduled"] == len(nodes)

    cluster.kubectl("delete", "deployment", "web")
    wait_for("the garbage collector removes the ReplicaSets and their pods",
             lambda: not json.loads(cluster.kubectl("get", "rs", "-o", "json"))["items"] and not cluster.pods("app=web"), timeout=60)


def test_the_vpc_enforces_security_groups_and_the_source_check(cluster_dir):
    """Security groups as EC2 applies them, changed through boto3 while pods run: a pod ENI moved
    into a group `db` that admits TCP 5432 from the cluster's group only; replies pass (stateful),
    membership follows the ENI's groups, a revoked rule stops new connections. Then the
    source/destination check: a pod address sent out of the wrong ENI is dropped."""
    up(cluster_dir, "--nodes", "2", "--prefix-delegation", "off")
    cluster = Cluster(cluster_dir)
    nodes = cluster.state["nodes"]
    serving = [{"name": "app", "image": "agnhost", "ports": [{"containerPort": 80}, {"containerPort": 5432}]}]
    cluster.create_pods(1, "probe", nodeName=nodes[0]["name"], containers=serving)
    cluster.create_pods(1, "db", nodeName=nodes[1]["name"], containers=serving)
    probe = wait_for("probe runs", lambda: cluster.running("app=probe"), timeout=60)[0]["status"]["podIP"]
    db = wait_for("db runs", lambda: cluster.running("app=db"), timeout=60)[0]["status"]["podIP"]

    def reaches(pod, target, *flags):
        return cluster.exec(pod, SIM, "ask", target, "--timeout", "1", *flags, check=False).returncode == 0

    def pings(pod, address):
        return cluster.exec(pod, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0

    wait_for("the pods serve", lambda: reaches("probe-0", f"{db}:80") and reaches("db-0", f"{probe}:80"), timeout=30)
    ec2 = cluster.ec2()
    eni = ec2.describe_network_interfaces(Filters=[{"Name": "addresses.private-ip-address", "Values": [db]}])["NetworkInterfaces"][0]
    cluster_group = [g["GroupId"] for g in eni["Groups"]]
    group = ec2.create_security_group(GroupName="db", Description="db", VpcId=eni["VpcId"])["GroupId"]
    rule = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": cluster_group[0]}]}])
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=[group])
    try:
        wait_for("port 80 is closed by the new group", lambda: not reaches("probe-0", f"{db}:80"), timeout=15)
        assert reaches("probe-0", f"{db}:5432"), "5432 from the cluster's group, and its replies come back"
        assert not pings("probe-0", db), "no ICMP rule"
        assert not reaches("db-0", f"{probe}:80"), "the db ENI left the cluster's group: the probe's group no longer admits it"
        assert pings("db-0", cluster.state["internetHost"]), "egress is the new group's default, all traffic (SNAT on the node)"
        ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[rule["SecurityGroupRules"][0]["SecurityGroupRuleId"]])
        wait_for("a revoked rule admits no new connection", lambda: not reaches("probe-0", f"{db}:5432"), timeout=15)
    finally:
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=cluster_group)
    wait_for("back in the cluster's group", lambda: reaches("probe-0", f"{db}:80") and reaches("db-0", f"{probe}:80"), timeout=15)

    node = nodes[0]
    record = json.loads(json.loads(cluster.kubectl("get", "node", node["name"], "-o", "json"))["metadata"]["annotations"]["k8s-vpcnet/node-network"])
    owner = next(e for e in record["enis"] if probe in e["secondaryIPs"])
    other = next(e for e in record["enis"] if e["deviceIndex"] not in (0, owner["deviceIndex"]))
    # Steer the pod's traffic out of the other ENI: the VPC's source/destination check drops it.
    rule = ["prio", "100", "from", probe, "lookup", str(7300 + other["deviceIndex"])]
    subprocess.run(["ip", "-n", node["namespace"], "rule", "add", *rule], check=True)
    try:
        assert not pings("probe-0", owner["gateway"]) and not reaches("probe-0", f"{db}:80")
    finally:
        subprocess.run(["ip", "-n", node["namespace"], "rule", "del", *rule], check=True)
    assert pings("probe-0", owner["gateway"]), "the subnet's gateway is in the VPC, off the node: through its own ENI"


def test_network_profiles_put_pods_in_their_subnets_and_groups(cluster_dir):
    """Profiles `db` (its own subnet and group, which admits 5432 only from group `db-clients`) and
    `db-clients`, each on one node: a `db-clients` pod reaches the `db` pod on 5432, a pod without
    a profile does not; the `db` pod's address is in the `db` subnet on an ENI with the `db` group;
    new groups on the profile reach the existing ENI; an unknown profile is a clear refusal."""
    # Prefix delegation leaves the node's own pods one ENI of an m5.large's three: room for a profile's.
    up(cluster_dir, "--nodes", "2", "--zones", "us-east-1a")
    cluster = Cluster(cluster_dir)
    app, data = [n["name"] for n in cluster.state["nodes"]]
    ec2 = cluster.ec2()
    instance = ec2.describe_instances(InstanceIds=[cluster.state["nodes"][0]["instanceID"]])["Reservations"][0]["Instances"][0]
    vpc, cluster_group = instance["VpcId"], instance["SecurityGroups"][0]["GroupId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
               for cidr in ("10.0.200.0/24", "10.0.201.0/24")]
    clients = ec2.create_security_group(GroupName="db-clients", Description="db clients", VpcId=vpc)["GroupId"]
    db = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": clients}]}])
    cluster.kubectl("label", "node", app, "role=app")
    cluster.kubectl("label", "node", data, "role=db")

    def profile(name, group, subnet, role):
        return {"apiVersion": "k8s-vpcnet.io/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": name},
                "spec": {"securityGroupIDs": [group], "subnets": [{"id": subnet}], "nodeSelector": {"matchLabels": {"role": role}},
                         "prefixDelegation": "off"}}
    cluster.kubectl("apply", "-f", "-", input="\n".join(json.dumps(p) for p in [profile("db", db, subnets[0], "db"),
                                                                               profile("db-clients", clients, subnets[1], "app")]))

    def ready(name):
        status = json.loads(cluster.kubectl("get", "netprof", name, "-o", "json")).get("status", {})
        return status.get("nodes") == 1 and status.get("capacity") == 9 and status["conditions"][0]["status"] == "True"
    wait_for("both profiles are on their node", lambda: ready("db") and ready("db-clients"), timeout=120)
    table = cluster.kubectl("get", "networkprofiles").splitlines()
    assert table[0].split()[:6] == ["NAME", "GROUPS", "NODES", "CAPACITY", "FREE", "READY"] and table[1].split()[2:4] == ["1", "9"], table

    serving = [{"name": "app", "image": "agnhost", "ports": [{"containerPort": 5432}]}]
    selecting = lambda name: {"k8s-vpcnet/network-profile": name}
    cluster.kubectl("apply", "-f", "-", input="\n".join(json.dumps(d) for d in [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db-0", "labels": {"app": "db"}, "annotations": selecting("db")},
         "spec": {"nodeName": data, "containers": serving}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client-0", "labels": {"app": "client"}, "annotations": selecting("db-clients")},
         "spec": {"nodeName": app, "containers": serving}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain-0", "labels": {"app": "plain"}},
         "spec": {"nodeName": app, "containers": serving}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lost-0", "labels": {"app": "lost"}, "annotations": selecting("nope")},
         "spec": {"nodeName": app, "containers": serving}}]))
    address = {name: wait_for(f"{name} runs", lambda: cluster.running(f"app={name}"), timeout=90)[0]["status"]["podIP"]
               for name in ("db", "client", "plain")}
    assert address["db"].startswith("10.0.200.") and address["client"].startswith("10.0.201."), address
    assert not address["plain"].startswith("10.0.20"), "a pod without a profile keeps the node's own addresses"
    eni = ec2.describe_network_interfaces(Filters=[{"Name": "addresses.private-ip-address", "Values": [address["db"]]}])["NetworkInterfaces"][0]
    assert eni["SubnetId"] == subnets[0] and [g["GroupId"] for g in eni["Groups"]] == [db]
    assert {"Key": "k8s-vpcnet/profile", "Value": "db"} in eni["TagSet"]

    def reaches(pod, target):
        return cluster.exec(pod, SIM, "ask", target, "--timeout", "1", check=False).returncode == 0
    wait_for("a db client reaches the database", lambda: reaches("client-0", f"{address['db']}:5432"), timeout=30)
    assert not reaches("plain-0", f"{address['db']}:5432"), "the db group admits only db-clients"
    wait_for("the pod of an unknown profile is told why", lambda: any(
        e.get("reason") == "NetworkProfileNotOnNode" and e["involvedObject"]["name"] == "lost-0" and '"nope"' in e.get("message", "")
        for e in json.loads(cluster.kubectl("get", "events", "-o", "json"))["items"]), timeout=60)
    assert not cluster.running("app=lost")

    # New groups on the profile reach the ENI it already has: the cluster's group admits every member.
    cluster.kubectl("patch", "netprof", "db", "--type=merge", "-p", json.dumps({"spec": {"securityGroupIDs": [db, cluster_group]}}))
    wait_for("the db ENI has the new groups", lambda: [g["GroupId"] for g in ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]["Groups"]] == [db, cluster_group], timeout=60)
    wait_for("and a pod without a profile now reaches the database", lambda: reaches("plain-0", f"{address['db']}:5432"), timeout=30)
    status = json.loads(cluster.kubectl("get", "--raw", f"/api/v1/nodes/{data}"))
    record = json.loads(status["metadata"]["annotations"]["k8s-vpcnet/node-network"])
    assert record["version"] == 3 and [e["profile"] for e in record["enis"] if "profile" in e] == ["db"]


def test_full_nodes_leave_pods_pending_until_addresses_free(cluster_dir):
    # t3.small: 3 ENIs × 4 addresses → 6 pod addresses.
    up(cluster_dir, "--nodes", "1", "--instance-type", "t3.small", "--prefix-delegation", "off", "--daemon-args=--cooldown 2s")
    cluster = Cluster(cluster_dir)
    cluster.create_pods(8, "full")
    wait_for("6 pods running", lambda: len(cluster.running("app=full")) == 6, timeout=120)
    wait_for("the other two are refused", lambda: len(cluster.refused("full") - {p["metadata"]["name"] for p in cluster.running("app=full")}) == 2,
             timeout=60)
    pending = [p for p in cluster.pods("app=full") if p.get("status", {}).get("phase") != "Running"]
    assert len(pending) == 2
    def taints():
        return json.loads(cluster.kubectl("get", "node", cluster.state["nodes"][0]["name"], "-o", "json"))["spec"].get("taints", [])
    wait_for("the node is tainted full", lambda: {"key": "k8s-vpcnet/no-free-ips", "effect": "NoSchedule"} in taints(), timeout=30)
    for pod in cluster.running("app=full")[:2]:
        cluster.kubectl("delete", "pod", pod["metadata"]["name"], "--wait=false")
    wait_for("the pending pods start", lambda: len(cluster.running("app=full")) == 6 and len(cluster.pods("app=full")) == 6, timeout=120)

    # More pods than the node holds wait for a new node, then start there.
    cluster.create_pods(3, "more")
    wait_for("the scheduler cannot place them", lambda: len(cluster.refused("more")) == 3, timeout=60)
    assert not cluster.running("app=more")
    result = subprocess.run([SIM, "add-node", "--state-dir", cluster_dir], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    new_node = result.stdout.split()[0]
    wait_for("the waiting pods start on the new node", lambda: len(cluster.running("app=more")) == 3, timeout=120)
    assert {p["spec"]["nodeName"] for p in cluster.running("app=more")} == {new_node}


def test_a_slow_node_takes_no_pods_until_configured_and_a_crashed_controller_leaks_nothing(cluster_dir):
    process = up(cluster_dir, "--nodes", "1", "--attach-delay-ms", "4000", background=True)
    try:
        wait_for("the API", lambda: os.path.exists(os.path.join(cluster_dir, "cluster.json")) and Cluster(cluster_dir).state["nodes"], timeout=60)
        cluster = Cluster(cluster_dir)
        cluster.create_pods(1, "early")
        # The controller crashes mid-provisioning (ENIs created, attachments pending); it is restarted.
        time.sleep(1)
        for replica in (1, 2):
            pid = process_with("eni-controller", f"eni-controller-{replica}", cluster_dir)
            if pid:
                os.kill(pid, signal.SIGKILL)
        wait_for("the scheduler holds the pod back", lambda: cluster.refused("early") == {"early-0"}, timeout=60)
        pod = cluster.pods("app=early")[0]
        assert pod.get("status", {}).get("phase") != "Running" and not pod["spec"].get("nodeName"), "no pod before the node is configured"
        assert process.wait(timeout=240) == 0, process.stdout.read()
    except Exception:
        process.kill()
        raise
    wait_for("the early pod runs", lambda: len(cluster.running("app=early")) == 1, timeout=60)
    enis = cluster.ec2().describe_network_interfaces(Filters=[{"Name": "tag:k8s-vpcnet/cluster", "Values": ["vpcnet-sim"]}])["NetworkInterfaces"]
    # m5.large with the defaults: one pod ENI with 7 /28 prefixes.
    assert [(e["Status"], len(e["Ipv4Prefixes"])) for e in enis] == [("in-use", 7)], "exactly the ENIs the node needs, none leaked"


def test_churn_of_500_pods_leaks_no_address_and_a_deleted_node_loses_its_enis(cluster_dir):
    # The collector lists pods every 5 s, so the RBAC audit below sees it however quick the churn is.
    up(cluster_dir, "--nodes", "2", "--prefix-delegation", "off", "--daemon-args=--cooldown 1s --collect-interval 5s")
    cluster = Cluster(cluster_dir)
    created = 0
    while created < 500:
        batch = min(25, 500 - created)
        cluster.create_pods(batch, f"churn{created}")
        wait_for(f"batch {created} running", lambda: (lambda r: len(r) == batch and r)(cluster.running(f"app=churn{created}")),
                 timeout=180)
        live = [p["status"]["podIP"] for p in cluster.pods() if p.get("status", {}).get("podIP")]
        assert len(live) == len(set(live)), "no address held twice"
        cluster.kubectl("delete", "pods", "-l", f"app=churn{created}", "--wait=false")
        created += batch
    wait_for("every churn pod gone", lambda: not [p for p in cluster.pods() if p["metadata"]["name"].startswith("churn")], timeout=120)
    for node in cluster.state["nodes"]:
        wait_for(f"{node['name']} holds no allocation", lambda: _allocations(cluster, node["name"]) == {}, timeout=60)
    # EC2 and the records agree.
    ec2 = cluster.ec2()
    for node in cluster.state["nodes"]:
        record = json.loads(json.loads(cluster.kubectl("get", "node", node["name"], "-o", "json"))["metadata"]["annotations"]["k8s-vpcnet/node-network"])
        for eni in record["enis"]:
            described = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["id"]])["NetworkInterfaces"][0]
            secondaries = sorted(a["PrivateIpAddress"] for a in described["PrivateIpAddresses"] if not a["Primary"])
            assert secondaries == sorted(eni["secondaryIPs"])

    # A node deleted with its instance: its ENIs go, its namespace goes.
    victim = cluster.state["nodes"][1]
    ec2.terminate_instances(InstanceIds=[victim["instanceID"]])
    cluster.kubectl("delete", "node", victim["name"])
    wait_for("the instance's ENIs are gone", lambda: not ec2.describe_network_interfaces(
        Filters=[{"Name": "tag:k8s-vpcnet/instance-id", "Values": [victim["instanceID"]]}])["NetworkInterfaces"], timeout=120)
    wait_for("its namespace is gone", lambda: victim["namespace"] not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                                                        text=True).stdout, timeout=60)

    # Pods bound past the survivor's capacity (no scheduler to hold them back): the one without an
    # address is told why in an Event, which the daemon reads the pod for.
    survivor = cluster.state["nodes"][0]["name"]
    # The capacity label counts the node's 2 host-network pods (which the simulator does not run).
    capacity = int(json.loads(cluster.kubectl("get", "node", survivor, "-o", "json"))["metadata"]["labels"]["k8s-vpcnet/pod-capacity"])
    addresses = capacity - 2
    cluster.create_pods(addresses + 1, "over", nodeName=survivor)
    wait_for("all but one of them run", lambda: len(cluster.running("app=over")) == addresses, timeout=120)
    wait_for("the last is told it has no address", lambda: any(
        e.get("reason") == "NoFreeAddress" and e["involvedObject"]["name"].startswith("over-")
        for e in json.loads(cluster.kubectl("get", "events", "-o", "json"))["items"]), timeout=60)
    check_rbac_is_exactly_what_was_used(cluster)


# Permissions deploy/ grants that this run does not exercise, and why they are granted.
UNEXERCISED = {
    "vpcnet-daemon": {
        ("", "pods", "delete"): "delete-pods-without-ips (off by default)",
        ("", "events", "list"): "vpcnetctl diagnose, run in the daemon's pod",
        ("", "events", "patch"): "a repeated Event is counted on the first (none repeats in this run)",
    },
    "vpcnet-eni-controller": {
        ("", "events", "patch"): "a repeated Event is counted on the first (none repeats in this run)",
        ("", "nodes", "update"): "tainting a node that registered without the no-interface-configured taint (simulated nodes register with it)",
        ("k8s-vpcnet.io", "networkprofiles/status", "patch"): "a profile's status (this run has no profile; test_network_profiles has)",
    },
}


def check_rbac_is_exactly_what_was_used(cluster):
    """Every call the controllers and daemons made (the API simulator's audit, by User-Agent) is
    granted by their ClusterRole or Role in deploy/, and every grant is used or explained above."""
    import yaml
    audit = json.loads(cluster.kubectl("get", "--raw", "/_sim/audit"))["items"]
    deploy = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "base")
    for agent, file in [("vpcnet-daemon", "daemon-rbac.yaml"), ("vpcnet-eni-controller", "controller-rbac.yaml")]:
        grants = set()
        for document in yaml.safe_load_all(open(os.path.join(deploy, file))):
            if document["kind"] in ("ClusterRole", "Role"):
                scope = document["metadata"].get("namespace", "") if document["kind"] == "Role" else ""
                for rule in document["rules"]:
                    grants |= {(scope, g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
        used = {(e["namespace"], e["group"], e["resource"], e["verb"]) for e in audit if e["userAgent"] == agent}
        assert used, f"no call from {agent} was seen"
        for namespace, group, resource, verb in used:
            assert any(g == group and r == resource and v == verb and scope in ("", namespace) for scope, g, r, v in grants), \
                f"{agent} used {verb} {group}/{resource} in '{namespace}' without a grant in deploy/base/{file}"
        unused = {(g, r, v) for _, g, r, v in grants} - {(g, r, v) for _, g, r, v in used}
        assert unused == set(UNEXERCISED[agent]), f"{agent}: granted but neither used nor explained: {unused - set(UNEXERCISED[agent])}; " \
                                                 f"explained but used: {set(UNEXERCISED[agent]) - unused}"


def test_up_and_down_leave_a_directory_that_is_not_theirs_alone():
    directory = tempfile.mkdtemp(prefix="vpcnet-foreign-")
    try:
        open(os.path.join(directory, "precious.txt"), "w").write("keep me")
        refused = subprocess.run([SIM, "up", "--state-dir", directory], capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "not a vpcnet-sim state directory" in refused.stdout + refused.stderr
        down = subprocess.run([SIM, "down", "--state-dir", directory], capture_output=True, text=True, timeout=60)
        assert down.returncode == 0 and "left" in down.stdout
        assert open(os.path.join(directory, "precious.txt")).read() == "keep me"
    finally:
        subprocess.run(["rm", "-rf", directory])
