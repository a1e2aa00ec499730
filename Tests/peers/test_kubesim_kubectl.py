"""kubectl, a real Kubernetes client written by others, against vpcnet's API simulator
(`vpcnet-sim apiserver`). The simulator is trusted only as far as kubectl agrees with it."""
import json
import os
import select
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

SIM = os.environ.get("VPCNET_SIM", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "vpcnet-sim"))

NODE = """apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    topology.kubernetes.io/zone: us-east-1a
spec:
  providerID: aws:///us-east-1a/i-0123456789abcdef0
"""

POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  containers:
  - name: web
    image: nginx
"""


@pytest.fixture
def cluster():
    directory = tempfile.mkdtemp(prefix="vpcnet-kubesim-")
    kubeconfig = os.path.join(directory, "kubeconfig")
    proc = subprocess.Popen([SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    url = line.split()[-1].rstrip("/")

    def kubectl(*args, input=None, check=True):
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True, text=True, timeout=30)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    yield url, kubectl, kubeconfig
    proc.terminate()
    proc.wait(timeout=10)


class Lines:
    """Lines from a child's stdout with a deadline on each (never a hang). Reads the raw file
    descriptor itself, so no line can hide in a buffer that select() cannot see."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.pending = b""

    def next(self, timeout=15):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(remaining, 0))
            assert ready, f"no output within {timeout} s"
            chunk = os.read(self.fd, 4096)
            assert chunk, "the process closed its output"
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()


def raw(url, path, method="GET", body=None, content_type="application/json"):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_kubectl_round_trip(cluster):
    url, kubectl, _ = cluster
    assert kubectl("create", "-f", "-", input=NODE).stdout.strip() == "node/node-1 created"
    assert kubectl("create", "-f", "-", input=POD).stdout.strip() == "pod/web created"
    assert "node-1" in kubectl("get", "nodes").stdout
    assert "web" in kubectl("get", "pods", "-n", "default").stdout

    kubectl("label", "node", "node-1", "k8s-vpcnet/instance-id=i-0123456789abcdef0")
    kubectl("annotate", "node", "node-1", "k8s-vpcnet/node-network={\"version\":1}")
    kubectl("taint", "node", "node-1", "k8s-vpcnet/no-interface-configured=:NoSchedule")
    kubectl("taint", "node", "node-1", "k8s-vpcnet/no-free-ips=:NoSchedule")
    kubectl("taint", "node", "node-1", "k8s-vpcnet/no-interface-configured:NoSchedule-")
    kubectl("patch", "node", "node-1", "--type", "merge", "-p", '{"metadata":{"labels":{"merge":"yes"}}}')
    kubectl("patch", "node", "node-1", "--type", "json", "-p", '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]')
    kubectl("patch", "node", "node-1", "--type", "strategic", "-p", '{"metadata":{"labels":{"strategic":"yes"}}}')

    # What kubectl wrote is exactly what the API returns, and vice versa.
    as_kubectl = json.loads(kubectl("get", "node", "node-1", "-o", "json").stdout)
    status, as_api = raw(url, "/api/v1/nodes/node-1")
    assert status == 200 and as_api == as_kubectl
    labels = as_api["metadata"]["labels"]
    assert labels["k8s-vpcnet/instance-id"] == "i-0123456789abcdef0"
    assert labels["merge"] == labels["json"] == labels["strategic"] == "yes"
    assert as_api["metadata"]["annotations"]["k8s-vpcnet/node-network"] == '{"version":1}'
    assert as_api["spec"]["taints"] == [{"key": "k8s-vpcnet/no-free-ips", "effect": "NoSchedule"}]
    assert as_api["spec"]["providerID"] == "aws:///us-east-1a/i-0123456789abcdef0"
    assert "k8s-vpcnet/instance-id: i-0123456789abcdef0" in kubectl("get", "node", "node-1", "-o", "yaml").stdout

    described = kubectl("describe", "node", "node-1").stdout
    assert "Name:               node-1" in described and "k8s-vpcnet/no-free-ips:NoSchedule" in described

    assert kubectl("get", "nodes", "-l", "merge=yes", "-o", "name").stdout.strip() == "node/node-1"
    assert kubectl("get", "nodes", "-l", "merge=no", "-o", "name").stdout.strip() == ""
    # Set-based selectors reach the server form-encoded ('+' for spaces), as Go clients send them.
    assert kubectl("get", "nodes", "-l", "merge in (yes,maybe),json notin (no)", "-o", "name").stdout.strip() == "node/node-1"
    assert kubectl("delete", "pod", "web").returncode == 0
    assert kubectl("get", "pod", "web", check=False).returncode != 0
    kubectl("delete", "node", "node-1")
    assert kubectl("get", "nodes", "-o", "name").stdout.strip() == ""


def test_kubectl_watch_sees_changes(cluster):
    _, kubectl, kubeconfig = cluster
    kubectl("create", "-f", "-", input=NODE)
    watcher = subprocess.Popen(["kubectl", "--kubeconfig", kubeconfig, "get", "nodes", "--watch", "--output-watch-events"],
                               stdout=subprocess.PIPE)
    try:
        lines = Lines(watcher.stdout)
        assert "ADDED" in lines.next() + lines.next()
        kubectl("label", "node", "node-1", "changed=yes")
        line = lines.next()
        assert line.split()[:2] == ["MODIFIED", "node-1"], line
        kubectl("delete", "node", "node-1")
        assert lines.next().split()[:2] == ["DELETED", "node-1"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)


def test_conflicts_and_bad_input_get_status_errors(cluster):
    url, kubectl, _ = cluster
    kubectl("create", "-f", "-", input=NODE)
    _, node = raw(url, "/api/v1/nodes/node-1")
    stale = dict(node)
    kubectl("label", "node", "node-1", "moved=on")
    status, error = raw(url, "/api/v1/nodes/node-1", "PUT", stale)
    assert status == 409 and error["kind"] == "Status" and error["reason"] == "Conflict"

    cases = [
        ("/api/v1/nodes", "POST", b"{not json", 400),
        ("/api/v1/nodes", "POST", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}, 400),
        ("/api/v1/nodes", "POST", {"apiVersion": "v1", "kind": "Node", "metadata": {}}, 422),
        ("/api/v1/nodes", "POST", b"[" * 100 + b"]" * 100, 400),
        ("/api/v1/nodes", "POST", b"x" * (4 << 20), 413),
        ("/api/v1/nodes/node-1", "PATCH", {"metadata": {"labels": {"a": "b"}}}, 415),
        ("/api/v1/widgets", "GET", None, 404),
        ("/api/v1/namespaces/nowhere/pods", "POST", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, 404),
    ]
    for path, method, body, expected in cases:
        status, error = raw(url, path, method, body)
        assert status == expected, (path, method, status, error)
        assert error["kind"] == "Status" and error["code"] == expected
    # The simulator is still serving.
    assert raw(url, "/api/v1/nodes/node-1")[0] == 200
