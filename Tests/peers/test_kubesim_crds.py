"""Custom resources in vpcnet's API simulator as kubectl uses them: the NetworkProfile CRD from
deploy/ registered, discovered, validated by its schema, printed with its columns, edited, watched,
its status written through the status subresource, and its instances gone with it."""
import json
import os
import subprocess

from kubesim_harness import Lines, raw
from support import ROOT

CRD = os.path.join(ROOT, "deploy", "base", "networkprofile-crd.yaml")
GROUP = "/apis/k8s-vpcnet.io/v1alpha1/networkprofiles"

PROFILE = """apiVersion: k8s-vpcnet.io/v1alpha1
kind: NetworkProfile
metadata:
  name: db
spec:
  securityGroupIDs: [sg-0123456789abcdef0]
  subnets:
  - {zone: us-east-1a, id: subnet-0123456789abcdef0}
  - {tags: {tier: db}}
"""


def profile(name, **spec):
    base = {"securityGroupIDs": ["sg-0123456789abcdef0"], "subnets": [{"id": "subnet-0123456789abcdef0"}]}
    return json.dumps({"apiVersion": "k8s-vpcnet.io/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": name},
                       "spec": {**base, **spec}})


def test_kubectl_serves_network_profiles_from_the_crd(kubesim):
    server, kubectl, kubeconfig = kubesim
    assert kubectl("get", "networkprofiles", check=False).returncode != 0, "not served before its CRD"
    created = kubectl("create", "-f", CRD).stdout.strip()
    assert created == "customresourcedefinition.apiextensions.k8s.io/networkprofiles.k8s-vpcnet.io created"
    kubectl("wait", "--for=condition=Established", "crd/networkprofiles.k8s-vpcnet.io", "--timeout=10s")
    assert kubectl("get", "crds", "-o", "name").stdout.split() == ["customresourcedefinition.apiextensions.k8s.io/networkprofiles.k8s-vpcnet.io"]
    resources = kubectl("api-resources", "--api-group=k8s-vpcnet.io").stdout.splitlines()
    assert resources[1].split() == ["networkprofiles", "netprof", "k8s-vpcnet.io/v1alpha1", "false", "NetworkProfile"], resources

    assert kubectl("create", "-f", "-", input=PROFILE).stdout.strip() == "networkprofile.k8s-vpcnet.io/db created"
    db = json.loads(kubectl("get", "netprof", "db", "-o", "json").stdout)
    assert db["spec"]["enisPerNode"] == 1 and db["spec"]["prefixDelegation"] == "auto", "the schema's defaults"
    assert db["metadata"]["generation"] == 1 and "namespace" not in db["metadata"]
    assert raw(server, GROUP + "/db")[1] == db

    table = kubectl("get", "networkprofiles").stdout.splitlines()
    assert table[0].split() == ["NAME", "GROUPS", "NODES", "CAPACITY", "FREE", "READY", "AGE"], table
    assert table[1].split()[:2] == ["db", '["sg-0123456789abcdef0"]'], table
    assert kubectl("get", "netprof", "-o", "wide").stdout.splitlines()[0].split()[:3] == ["NAME", "GROUPS", "ENIS"]
    assert kubectl("get", "vpcnet", "-o", "name").stdout.split() == ["networkprofile.k8s-vpcnet.io/db"], "the category"

    # Bad input is refused with the server's wording, field by field, and changes nothing.
    refusals = [
        (profile("bad", color="blue"), 'strict decoding error: unknown field "spec.color"'),
        (profile("bad", securityGroupIDs=["web"]), "spec.securityGroupIDs[0] in body should match '^sg-[0-9a-f]{8,17}$'"),
        (profile("bad", enisPerNode=0), "spec.enisPerNode in body should be greater than or equal to 1"),
        (profile("bad", prefixDelegation="sometimes"), 'spec.prefixDelegation: Unsupported value: "sometimes"'),
        (profile("bad", subnets=[]), "spec.subnets in body should have at least 1 items"),
        (json.dumps({"apiVersion": "k8s-vpcnet.io/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "bad"},
                     "spec": {"securityGroupIDs": ["sg-0123456789abcdef0"]}}), "spec.subnets: Required value"),
    ]
    for body, message in refusals:
        refused = kubectl("create", "-f", "-", input=body, check=False)
        assert refused.returncode != 0 and message in refused.stderr, (message, refused.stderr)
    assert kubectl("get", "netprof", "-o", "name").stdout.split() == ["networkprofile.k8s-vpcnet.io/db"]

    # Status only through its subresource; the main resource ignores it, and only spec moves the generation.
    status = {"status": {"observedGeneration": 1, "nodes": 2, "capacity": 58, "free": 50,
                         "conditions": [{"type": "Ready", "status": "True", "reason": "Provisioned"}]}}
    kubectl("patch", "netprof", "db", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    kubectl("patch", "netprof", "db", "--type=merge", "-p", '{"status":{"nodes":9}}')
    db = json.loads(kubectl("get", "netprof", "db", "-o", "json").stdout)
    assert db["status"]["nodes"] == 2 and db["metadata"]["generation"] == 1, db
    assert table_row(kubectl, "db")[2:6] == ["2", "58", "50", "True"]
    refused = kubectl("patch", "netprof", "db", "--subresource=status", "--type=merge", "-p", '{"status":{"nodes":"two"}}', check=False)
    assert refused.returncode != 0 and "status.nodes in body must be of type integer" in refused.stderr, refused.stderr

    watcher = subprocess.Popen(["kubectl", "--kubeconfig", kubeconfig, "get", "netprof", "--watch", "--output-watch-events"],
                               stdout=subprocess.PIPE)
    try:
        lines = Lines(watcher.stdout)
        assert "ADDED" in lines.next() + lines.next()
        editor = "sed -i s/enisPerNode:\\ 1/enisPerNode:\\ 3/"
        edited = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "edit", "netprof", "db"], env={**os.environ, "KUBE_EDITOR": editor},
                                capture_output=True, text=True, timeout=30)
        assert edited.stdout.strip() == "networkprofile.k8s-vpcnet.io/db edited", edited.stderr
        assert lines.next().split()[:2] == ["MODIFIED", "db"]
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    db = json.loads(kubectl("get", "netprof", "db", "-o", "json").stdout)
    assert db["spec"]["enisPerNode"] == 3 and db["metadata"]["generation"] == 2 and db["status"]["nodes"] == 2
    described = kubectl("describe", "netprof", "db").stdout
    assert "Kind:         NetworkProfile" in described and "Enis Per Node:      3" in described, described

    # Deleting the definition deletes what it defined.
    kubectl("delete", "crd", "networkprofiles.k8s-vpcnet.io")
    assert raw(server, GROUP)[0] == 404
    kubectl("create", "-f", CRD)
    kubectl("wait", "--for=condition=Established", "crd/networkprofiles.k8s-vpcnet.io", "--timeout=10s")
    assert kubectl("get", "netprof", "-o", "name").stdout.strip() == ""


def test_bad_definitions_are_refused_with_the_field_at_fault(kubesim):
    _, kubectl, _ = kubesim
    definition = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": []}}}}}]}}
    refused = kubectl("create", "-f", "-", input=json.dumps(definition), check=False)
    assert refused.returncode != 0 and "x-kubernetes-validations: Forbidden" in refused.stderr, refused.stderr
    named = {**definition, "metadata": {"name": "gadgets.example.com"}}
    refused = kubectl("create", "-f", "-", input=json.dumps(named), check=False)
    assert refused.returncode != 0 and "metadata.name" in refused.stderr, refused.stderr
    del definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    kubectl("create", "-f", "-", input=json.dumps(definition))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    refused = kubectl("create", "-f", "-", input=json.dumps(widget), check=False)
    assert refused.returncode != 0 and 'unknown field "spec.size"' in refused.stderr, refused.stderr
    kubectl("create", "-f", "-", "--validate=false", input=json.dumps(widget))
    stored = json.loads(kubectl("get", "widget", "w", "-n", "default", "-o", "json").stdout)
    assert stored["spec"] == {} and stored["metadata"]["namespace"] == "default", "pruned, as the API server prunes"


def table_row(kubectl, name):
    for line in kubectl("get", "netprof").stdout.splitlines()[1:]:
        if line.split()[0] == name:
            return line.split()
    raise AssertionError(f"{name} not in the table")
