"""A simulated node for daemon tests: the Kubernetes API simulator, a network namespace whose
veths carry the record's ENI MACs, the vpcnet-daemon process configuring it, and helpers to call
the vpcnet-ipam plugin directly or through ptp with libcni (cnitool)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request

from support import CNITOOL, DAEMON, IPAM, PROTO, SIM, free_port, run, wait_for  # noqa: F401 (free_port: the bench imports it here)


def eni(n, index, secondaries):
    return {"id": f"eni-{n:017d}", "mac": f"02:00:00:00:00:{n:02x}", "deviceIndex": index, "subnetID": "subnet-00000000000000001",
            "subnetCIDR": "10.0.0.0/16", "gateway": "10.0.0.1", "securityGroups": ["sg-00000000000000001"],
            "primaryIP": f"10.0.0.{10 + n}", "secondaryIPs": secondaries}


def record(enis):
    return {"version": 1, "instanceID": "i-0123456789abcdef0", "instanceType": "m5.large", "availabilityZone": "us-east-1a",
            "vpcID": "vpc-00000000000000001", "vpcCIDRs": ["10.0.0.0/16"], "enis": enis}


class APIServer:
    def __init__(self, directory):
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        self.proc = subprocess.Popen([SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", self.kubeconfig],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.url = line.split()[-1].rstrip("/")

    def request(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def node(self, name):
        return self.request("GET", f"/api/v1/nodes/{name}")

    def taints(self, name):
        return {(t["key"], t["effect"]) for t in self.node(name).get("spec", {}).get("taints", [])}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Node:
    """A node namespace, its Node object with a record, and a daemon process for it."""

    def __init__(self, api, directory, name, pod_enis, daemon_args=()):
        self.api, self.directory, self.name = api, directory, name
        self.netns = f"vpcnet-{name}-{os.getpid()}"
        self.enis = [eni(0, 0, [])] + pod_enis
        self.socket = os.path.join(directory, "run", "ipam.sock")
        self.state = os.path.join(directory, "state")
        self.bin = os.path.join(directory, "bin")
        self.confdir = os.path.join(directory, "net.d")
        self.conflist = os.path.join(self.confdir, "10-vpcnet.conflist")
        self.daemon_args = list(daemon_args)
        # Released addresses are free again after a second, unless a test asks for a cooldown it can observe.
        self.cooldown = [] if "--cooldown" in self.daemon_args else ["--cooldown", "1s"]
        self.proc = None
        # The daemon runs in the test's own network namespace: its endpoints need ports of their own.
        self.introspection = f"http://127.0.0.1:{free_port()}"
        self.metrics = f"http://127.0.0.1:{free_port()}"
        run("ip", "netns", "add", self.netns)
        run("ip", "-n", self.netns, "link", "set", "lo", "up")
        for e in self.enis:
            name_ = f"ens{5 + e['deviceIndex']}"
            run("ip", "-n", self.netns, "link", "add", name_, "address", e["mac"], "type", "veth", "peer", "name", f"p{5 + e['deviceIndex']}")
        run("ip", "-n", self.netns, "addr", "add", "10.0.0.10/16", "dev", "ens5")
        run("ip", "-n", self.netns, "link", "set", "ens5", "up")
        run("ip", "-n", self.netns, "route", "add", "default", "via", "10.0.0.1", "dev", "ens5")
        api.request("POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"k8s-vpcnet/node-network": json.dumps(record(self.enis))}},
            "spec": {"taints": [{"key": "k8s-vpcnet/no-interface-configured", "effect": "NoSchedule"}]}})

    @property
    def netns_path(self):
        return f"/var/run/netns/{self.netns}"

    def start(self):
        self.log = open(os.path.join(self.directory, "daemon.log"), "a")
        self.proc = subprocess.Popen([
            DAEMON, "--node-name", self.name, "--netns", self.netns_path, "--state-dir", self.state, "--socket", self.socket,
            "--cni-source-dirs", f"{os.path.dirname(IPAM)}:/usr/lib/cni", "--cni-bin-dir", self.bin, "--cni-conf-dir", self.confdir,
            "--metrics-listen", self.metrics.removeprefix("http://"), "--introspection-listen", self.introspection.removeprefix("http://"),
            "--kubeconfig", self.api.kubeconfig, *self.cooldown, *self.daemon_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout=60):
        wait_for("the daemon serves its addresses", lambda: self.health() == "SERVING", timeout)
        wait_for("the CNI configuration", lambda: os.path.exists(self.conflist), timeout)

    def health(self):
        result = self.plugin("STATUS", "c", version="1.1.0", check=False)
        return "SERVING" if result.returncode == 0 else None

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def config(self, version="1.0.0", **extra):
        return json.dumps({"cniVersion": version, "name": "vpcnet", "type": "ptp",
                           "ipam": {"type": "vpcnet-ipam", "socket": self.socket, "spoolDir": os.path.join(self.state, "spool"),
                                    "timeoutMilliseconds": 5000}, **extra})

    def plugin(self, command, container, version="1.0.0", ifname="eth0", stdin=None, env=None, check=True, **extra):
        """Runs vpcnet-ipam directly, as ptp would."""
        environment = {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": "/var/run/netns/none", "CNI_IFNAME": ifname,
                       "CNI_PATH": self.bin, "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={container}"}
        if env is not None:
            environment = env
        data = stdin if stdin is not None else self.config(version, **extra)
        return subprocess.run([IPAM], input=data if isinstance(data, bytes) else data.encode(), capture_output=True, env=environment,
                              timeout=30)

    def cnitool(self, command, netns, container, conflist=None, check=True, capabilities=None, in_node=False):
        """libcni as a runtime drives it; `capabilities`: the runtimeConfig (portMappings, bandwidth);
        `in_node`: run it in the node's namespace, as a kubelet on the node does."""
        env = dict(os.environ, CNI_PATH=self.bin, CNITOOL_CACHE_DIR=os.path.join(self.directory, "cni-cache"),
                   K8S_POD_NAMESPACE="default", K8S_POD_NAME=container)
        if capabilities is not None:
            env["CNITOOL_CAPABILITY_ARGS"] = json.dumps(capabilities)
        prefix = ["ip", "netns", "exec", self.netns] if in_node else []
        result = subprocess.run(prefix + [CNITOOL, command, conflist or self.conflist, netns, container], capture_output=True,
                                text=True, env=env, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"cnitool {command} {container}: {result.stderr}")
        return result

    def close(self):
        self.kill()
        run("ip", "netns", "del", self.netns, check=False)


class IPAMStub:
    """The reference gRPC client (grpcio) on our .proto, compiled at run time with protoc into a
    descriptor set (no generated Python code to keep in step)."""

    def __init__(self, socket_path, directory):
        import grpc
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        descriptor_set = os.path.join(directory, "ipam.desc")
        run("protoc", f"--proto_path={PROTO}", "--include_imports", f"--descriptor_set_out={descriptor_set}", "vpcnet/ipam/v1/ipam.proto")
        files = descriptor_pb2.FileDescriptorSet()
        with open(descriptor_set, "rb") as f:
            files.ParseFromString(f.read())
        pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            pool.Add(file)
        self.messages = {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"vpcnet.ipam.v1.{name}"))
                         for name in ["AddRequest", "AddResponse", "DelRequest", "DelResponse", "StatusRequest", "StatusResponse"]}
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")

    def call(self, method, request_type, response_type, **fields):
        stub = self.channel.unary_unary(f"/vpcnet.ipam.v1.IPAM/{method}", request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=self.messages[response_type].FromString)
        return stub(self.messages[request_type](**fields), timeout=10)

    def status(self):
        return self.call("Status", "StatusRequest", "StatusResponse")


def make_directory():
    directory = tempfile.mkdtemp(prefix="vpcnet-daemon-")
    os.chmod(directory, 0o755)
    return directory


def remove_directory(directory):
    shutil.rmtree(directory, ignore_errors=True)
