"""What operators install: deploy/ checked by the tools others use (yamllint, checkov, parliament),
applied with kubectl (server-side, dry run and for real) to the Kubernetes API simulator, and
rendered by vpcnetctl."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from support import ROOT, SIM, run

DEPLOY = os.path.join(ROOT, "deploy")
VPCNETCTL = os.environ.get("VPCNET_VPCNETCTL", os.path.join(os.path.dirname(SIM), "vpcnetctl"))
CHECKOV = os.environ.get("VPCNET_CHECKOV", "/opt/vpcnet-checkov/bin/checkov")

def test_yamllint_strict():
    run("yamllint", "--strict", "-c", os.path.join(ROOT, ".yamllint.yaml"), DEPLOY)


def test_checkov_finds_nothing_unexplained():
    """Each check that does not apply is skipped on its object with the reason
    (`checkov.io/skipN` annotations); anything else checkov finds fails the test."""
    if not os.path.exists(CHECKOV):
        pytest.fail(f"checkov is not installed at {CHECKOV} (scripts/setup installs it)")
    result = subprocess.run([CHECKOV, "-f", os.path.join(DEPLOY, "vpcnet.yaml"), "--framework", "kubernetes", "-o", "json",
                             "--skip-download"], capture_output=True, text=True, timeout=600)
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    results = [r.get("results", {}) for r in reports]
    failed = [(c["check_id"], c["resource"]) for r in results for c in r.get("failed_checks", [])]
    assert failed == [], f"checkov failures neither fixed nor explained: {failed}"
    skipped = [c for r in results for c in r.get("skipped_checks", [])]
    assert all(len(c.get("check_result", {}).get("suppress_comment", "")) > 20 for c in skipped), "a skip without its reason"
    passed = sum(len(r.get("passed_checks", [])) for r in results)
    assert passed > 100, f"checkov checked almost nothing ({passed} passed): {result.stderr}"


def test_parliament_accepts_the_iam_policy():
    """parliament asks each statement to name every resource type an action takes; ours splits an
    action's resources over statements so the cluster-tag condition applies to ENIs alone. So
    each RESOURCE_MISMATCH must be covered by another statement granting the action on the
    format parliament asks for; any other finding fails."""
    from parliament import analyze_policy_string
    text = open(os.path.join(DEPLOY, "iam-policy.json")).read()
    policy = analyze_policy_string(text, include_community_auditors=True)
    statements = json.loads(text)["Statement"]

    def granted(action, arn_format):
        suffix = arn_format.split(":")[-1]
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if action in actions and any(r == "*" or r.endswith(":" + suffix) for r in resources):
                return True
        return False

    for finding in policy.findings:
        assert finding.issue == "RESOURCE_MISMATCH", f"{finding.issue}: {finding.detail}"
        for detail in finding.detail:
            assert granted(detail["action"], detail["required_format"]), f"{detail['action']} is never granted on {detail['required_format']}"


@pytest.fixture
def apiserver():
    directory = tempfile.mkdtemp(prefix="vpcnet-deploy-")
    kubeconfig = os.path.join(directory, "kubeconfig")
    proc = subprocess.Popen([SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("listening on ")

    def kubectl(*args, input=None, check=True):
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result
    yield kubectl
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


def objects(yaml_text):
    import yaml
    return [(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in yaml.safe_load_all(yaml_text) if d]


def test_manifests_apply_server_side_dry_run_then_for_real(apiserver):
    manifests = os.path.join(DEPLOY, "vpcnet.yaml")
    expected = objects(open(manifests).read())
    assert {k for k, _, _ in expected} == {"CustomResourceDefinition", "ConfigMap", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                                           "Deployment", "PodDisruptionBudget", "DaemonSet"}
    dry = apiserver("apply", "--server-side", "--dry-run=server", "-f", manifests)
    assert dry.stdout.count("serverside-applied (server dry run)") == len(expected), dry.stdout
    assert "No resources found" in apiserver("get", "daemonsets", "-n", "kube-system", check=False).stderr + \
        apiserver("get", "daemonsets", "-n", "kube-system", check=False).stdout, "a dry run stores nothing"

    apiserver("apply", "--server-side", "-f", manifests)
    for kind, namespace, name in expected:
        args = ["get", kind.lower(), name, "-o", "json"] + (["-n", namespace] if namespace else [])
        stored = json.loads(apiserver(*args).stdout)
        assert stored["metadata"]["name"] == name
    ds = json.loads(apiserver("get", "daemonset", "vpcnet-daemon", "-n", "kube-system", "-o", "json").stdout)
    container = ds["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert ds["spec"]["template"]["spec"]["priorityClassName"] == "system-node-critical"
    # Applying again succeeds and changes nothing (what an upgrade with unchanged files does).
    def versions():
        result = {}
        for kind, namespace, name in expected:
            args = ["get", kind.lower(), name, "-o", "json"] + (["-n", namespace] if namespace else [])
            result[(kind, name)] = json.loads(apiserver(*args).stdout)["metadata"]["resourceVersion"]
        return result
    before = versions()
    again = apiserver("apply", "--server-side", "-f", manifests)
    assert again.stdout.count("serverside-applied") == len(expected)
    assert versions() == before, "a second apply of the same files rewrote objects"


def test_the_simulator_rejects_what_the_api_server_would(apiserver):
    broken = open(os.path.join(DEPLOY, "base", "daemon.yaml")).read().replace(
        "      labels:\n        app.kubernetes.io/name: vpcnet-daemon\n", "      labels:\n        app.kubernetes.io/name: other\n", 1)
    assert broken != open(os.path.join(DEPLOY, "base", "daemon.yaml")).read()
    result = apiserver("apply", "--server-side", "--dry-run=server", "-f", "-", input=broken, check=False)
    assert result.returncode != 0 and "selector does not match template labels" in result.stderr, result.stderr
    role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\nrules:\n- apiGroups: ['']\n  resources: [pods]\n  verbs: []\n"
    result = apiserver("apply", "--server-side", "-f", "-", input=role, check=False)
    assert result.returncode != 0 and "verbs: Required value" in result.stderr, result.stderr


def test_vpcnetctl_renders_what_is_committed():
    assert run(VPCNETCTL, "iam-policy").stdout == open(os.path.join(DEPLOY, "iam-policy.json")).read()
    policy = json.loads(run(VPCNETCTL, "iam-policy", "--cluster-name", "prod").stdout)
    conditions = json.dumps([s.get("Condition") for s in policy["Statement"]])
    assert "CLUSTER_NAME" not in conditions and '"prod"' in conditions
    rendered = run(VPCNETCTL, "manifests", "--image-tag", "1.2.3", "--cluster-name", "prod").stdout
    assert rendered.count("image: ghcr.io/k8s-vpcnet/vpcnet:1.2.3") == 3 and 'cluster-name: "prod"' in rendered
    assert objects(rendered) == objects(open(os.path.join(DEPLOY, "vpcnet.yaml")).read())
    bad = run(VPCNETCTL, "manifests", "--image-tag", "../x", check=False)
    assert bad.returncode == 1 and "is not an image tag" in bad.stderr and bad.stdout == ""
    # The controller's default, prefix-delegation auto, gives a Nitro type prefixes and a Xen type none.
    assert run(VPCNETCTL, "max-pods", "m5.large").stdout.strip() == "110"
    assert run(VPCNETCTL, "max-pods", "m5.large", "--no-prefix-delegation").stdout.strip() == "20"
    assert run(VPCNETCTL, "max-pods", "m4.large").stdout.strip() == "11"  # one pod ENI of 9 + 2
    xen = run(VPCNETCTL, "max-pods", "m4.large", "--prefix-delegation", check=False)
    assert xen.returncode == 1 and "does not support prefix delegation" in xen.stderr
    assert run(VPCNETCTL, "max-pods", "m5.large", "--prefix-delegation").stdout.strip() == "110"
    assert run(VPCNETCTL, "max-pods", "m5.large", "--prefix-delegation", "--max-pods", "250").stdout.strip() == "250"
    assert run(VPCNETCTL, "max-pods", "c5.18xlarge", "--max-enis", "2", "--no-prefix-delegation").stdout.strip() == "51"
    assert "7 /28 prefixes" in run(VPCNETCTL, "max-pods", "m5.large", "--prefix-delegation", "--explain").stdout
    bad_pods = run(VPCNETCTL, "max-pods", "m5.large", "--max-pods", "1", check=False)
    assert bad_pods.returncode == 1 and "--max-pods must be" in bad_pods.stderr
    unknown = run(VPCNETCTL, "max-pods", "m99.huge", check=False)
    assert unknown.returncode == 1 and "unknown instance type" in unknown.stderr
