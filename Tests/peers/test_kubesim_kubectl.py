"""kubectl, a real Kubernetes client written by others, against vpcnet's API simulator
(`vpcnet-sim apiserver`). The simulator is trusted only as far as kubectl agrees with it."""
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from kubesim_harness import Lines, raw

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


def test_kubectl_round_trip(kubesim):
    url, kubectl, _ = kubesim
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


def test_kubectl_watch_sees_changes(kubesim):
    _, kubectl, kubeconfig = kubesim
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


def test_conflicts_and_bad_input_get_status_errors(kubesim):
    url, kubectl, _ = kubesim
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


def test_tokens_are_required_when_configured(kubesim):
    server, _, kubeconfig = kubesim
    # The same kubeconfig without the client certificate: only the token authenticates.
    token_only = kubeconfig + "-token"
    with open(kubeconfig) as source, open(token_only, "w") as target:
        target.writelines(line for line in source if "client-certificate-data" not in line and "client-key-data" not in line)
    kubectl = lambda *args: subprocess.run(["kubectl", "--kubeconfig", token_only, *args], capture_output=True, text=True,
                                           timeout=30, stdin=subprocess.DEVNULL)
    assert kubectl("get", "namespaces").returncode == 0
    refused = kubectl("--token", "wrong-token", "get", "namespaces")
    assert refused.returncode != 0 and "must be logged in" in refused.stderr, refused.stderr
    # Rotation: the server now accepts only a new token; the old one is refused.
    assert raw(server, "/_sim/tokens", "POST", {"tokens": ["rotated"]})[0] == 200
    assert kubectl("get", "namespaces").returncode != 0
    assert kubectl("--token", "rotated", "get", "namespaces").returncode == 0


def test_https_refuses_clients_that_do_not_trust_its_ca(kubesim):
    (url, _), _, kubeconfig = kubesim
    with pytest.raises(urllib.error.URLError) as failure:
        urllib.request.urlopen(url + "/api/v1/nodes", timeout=30)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    # Trusting the CA without a client certificate or token: 401.
    directory = os.path.dirname(kubeconfig)
    context = ssl.create_default_context(cafile=os.path.join(directory, "certificate-authority-data"))
    assert raw((url, context), "/api/v1/nodes")[0] == 401
    assert raw((url, context), "/api/v1/nodes", headers={"Authorization": "Bearer peer-token"})[0] == 200


def test_kubectl_gets_tables_services_and_scales(kubesim):
    """`kubectl get` asks for server-side Tables: the columns a real API server prints. Services get
    their cluster IP and node ports from the simulator's registry; `kubectl scale` uses the scale subresource."""
    _, kubectl, _ = kubesim
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge"},
               "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "nodePort": 30080}]}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "agnhost"}]}}}}
    kubectl("create", "-f", "-", input="\n".join(json.dumps(d) for d in [service, deployment]))
    kubectl("create", "-f", "-", input=POD)
    services = kubectl("get", "svc", "edge").stdout.splitlines()
    assert services[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], services
    name, kind, cluster_ip, external, ports, _ = services[1].split()
    assert (name, kind, external, ports) == ("edge", "NodePort", "<none>", "80:30080/TCP") and cluster_ip.startswith("172.20.")
    assert kubectl("get", "pods").stdout.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert kubectl("get", "pods", "-o", "wide").stdout.splitlines()[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert kubectl("get", "deploy").stdout.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    both = kubectl("get", "svc,endpointslices").stdout
    assert "service/edge" in both and "NAME" in both
    assert kubectl("scale", "deployment/web", "--replicas=4").stdout.strip() == "deployment.apps/web scaled"
    scaled = json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert scaled["spec"]["replicas"] == 4 and scaled["metadata"]["generation"] == 2
    taken = kubectl("create", "-f", "-", input=json.dumps({**service, "metadata": {"name": "again"}}), check=False)
    assert taken.returncode != 0 and "provided port is already allocated" in taken.stderr


def test_kubectl_generators_send_protobuf_and_a_list_validates(kubesim):
    """kubectl's generator commands send `application/vnd.kubernetes.protobuf` bodies; the
    simulator decodes them into the objects the API server would store. A `List` given to
    `kubectl create -f` validates (kubectl reads /openapi/v2, the server checks each item)."""
    _, kubectl, _ = kubesim
    verbose = kubectl("create", "namespace", "team-a", "-v=8").stderr
    assert "Content-Type: application/vnd.kubernetes.protobuf" in verbose, "kubectl still sends protobuf"
    for args in [["create", "deployment", "web", "--image=agnhost", "--replicas=0", "--port=8080"],
                 ["create", "configmap", "settings", "--from-literal=mode=fast"],
                 ["create", "serviceaccount", "robot"],
                 ["create", "service", "nodeport", "edge", "--tcp=80:8080"],
                 ["expose", "deployment", "web", "--port=80", "--target-port=8080", "--name=web"],
                 ["create", "role", "reader", "--verb=get", "--resource=pods"],
                 ["create", "rolebinding", "reader", "--role=reader", "--serviceaccount=default:robot"],
                 ["create", "clusterrole", "lister", "--verb=list", "--resource=nodes"],
                 ["create", "clusterrolebinding", "lister", "--clusterrole=lister", "--user=me"],
                 ["create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=50%"],
                 ["run", "one", "--image=agnhost", "--port=81", "--labels=app=one"]]:
        kubectl(*args)

    def get(*args):
        return json.loads(kubectl("get", *args, "-o", "json").stdout)

    assert get("namespace", "team-a")["status"]["phase"] == "Active"
    deployment = get("deployment", "web")
    assert deployment["spec"]["replicas"] == 0, "a pointer set to zero stays zero"
    assert deployment["spec"]["template"]["spec"]["containers"] == [{"name": "agnhost", "image": "agnhost", "ports": [{"containerPort": 8080}], "resources": {}}]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert get("configmap", "settings")["data"] == {"mode": "fast"}
    assert get("serviceaccount", "robot")["metadata"]["name"] == "robot"
    edge = get("service", "edge")["spec"]
    assert edge["type"] == "NodePort" and edge["ports"][0]["targetPort"] == 8080 and edge["ports"][0]["nodePort"] >= 30000
    assert get("service", "web")["spec"]["selector"] == {"app": "web"}
    assert get("role", "reader")["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    assert get("rolebinding", "reader")["subjects"] == [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}]
    assert get("clusterrolebinding", "lister")["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lister"}
    assert get("pdb", "web")["spec"]["minAvailable"] == "50%"
    assert get("pod", "one")["spec"]["containers"][0]["ports"] == [{"containerPort": 81}]

    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "listed"}},
             {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mismatched"},
              "spec": {"selector": {"matchLabels": {"app": "x"}},
                       "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}}]
    result = kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), check=False)
    assert "configmap/listed created" in result.stdout, result.stderr
    assert result.returncode != 0 and "selector does not match template labels" in result.stderr, result.stderr
