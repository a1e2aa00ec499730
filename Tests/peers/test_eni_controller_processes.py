"""Two eni-controller processes against the simulators, driven by real clients: boto3 launches
instances, kubectl registers Nodes and reads the results. One replica works while it holds the
Lease; killing it hands the work to the other; SIGTERM releases the Lease."""
import json
import shutil
import os
import signal
import subprocess
import tempfile
import urllib.request

import boto3
import pytest

from support import CONTROLLER, KEY, SECRET, SIM, free_port, moto_server, wait_for


def start(*argv):
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, line.split()[-1].rstrip("/")


@pytest.fixture
def world():
    directory = tempfile.mkdtemp(prefix="vpcnet-controller-")
    kubeconfig = os.path.join(directory, "kubeconfig")
    ec2_proc, ec2_url = start(SIM, "ec2", "--listen", "127.0.0.1:0", "--attach-delay", "0.05", "--detach-delay", "0.05")
    kube_proc, _ = start(SIM, "apiserver", "--listen", "127.0.0.1:0", "--tls", "--kubeconfig", kubeconfig)
    ec2 = boto3.client("ec2", endpoint_url=ec2_url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName="nodes", Description="nodes")["GroupId"]

    def kubectl(*args, input=None):
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def launch(name):
        instance = ec2.run_instances(ImageId="ami-12345678", InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                                     SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
        kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                                      "spec": {"providerID": f"aws:///us-east-1a/{instance}"}}))
        return instance

    controllers = []

    def controller(identity):
        port = free_port()
        env = dict(os.environ, KUBECONFIG=kubeconfig, AWS_ENDPOINT_URL_EC2=ec2_url, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, VPCNET_CLUSTER_NAME="peer-test",
                   VPCNET_METRICS_LISTEN=f"127.0.0.1:{port}", AWS_EC2_METADATA_DISABLED="true")
        log = open(os.path.join(directory, f"{identity}.log"), "w+")
        proc = subprocess.Popen([CONTROLLER, "--identity", identity, "--lease-duration", "3", "--renew-deadline", "2",
                                 "--retry-period", "0.5"], env=env, stdout=log, stderr=subprocess.STDOUT)
        controllers.append(proc)
        return proc, port, log

    yield ec2, kubectl, launch, controller
    for proc in controllers + [ec2_proc, kube_proc]:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


def lease_holder(kubectl):
    try:
        lease = json.loads(kubectl("get", "lease", "-n", "kube-system", "vpcnet-eni-controller", "-o", "json"))
    except AssertionError:
        return None
    return lease["spec"].get("holderIdentity") or None


def lease_renew_time(kubectl):
    return json.loads(kubectl("get", "lease", "-n", "kube-system", "vpcnet-eni-controller", "-o", "json"))["spec"].get("renewTime")


def record(kubectl, name):
    node = json.loads(kubectl("get", "node", name, "-o", "json"))
    text = node["metadata"].get("annotations", {}).get("k8s-vpcnet/node-network")
    return (json.loads(text), node) if text else None


def check_provisioned(ec2, kubectl, name, instance, moto=False):
    """An m5.large provisioned with the defaults: one pod ENI with 7 /28 prefixes (110 pods, the
    max-pods default). moto does not model prefixes, so against it the controller runs with
    prefix-delegation off: two pod ENIs with 9 single addresses (20 pods)."""
    found = wait_for(f"{name} provisioned", lambda: record(kubectl, name), timeout=30)
    rec, node = found
    assert node["metadata"]["labels"]["k8s-vpcnet/instance-id"] == instance
    # Addresses + 2 host-network pods, at most max-pods.
    assert node["metadata"]["labels"]["k8s-vpcnet/pod-capacity"] == ("20" if moto else "110")
    assert {"key": "k8s-vpcnet/no-interface-configured", "effect": "NoSchedule"} in node["spec"]["taints"]
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "tag:k8s-vpcnet/instance-id", "Values": [instance]}])["NetworkInterfaces"]
    assert len(enis) == (2 if moto else 1)
    for eni in enis:
        assert eni["Attachment"]["InstanceId"] == instance
        # moto ignores Attachment.DeleteOnTermination on ModifyNetworkInterfaceAttribute (../shared/notes/ec2-peers.md).
        assert eni["Attachment"]["DeleteOnTermination"] or moto
        singles = [a for a in eni["PrivateIpAddresses"] if not a["Primary"]]
        assert (len(singles), len(eni.get("Ipv4Prefixes", []))) == ((9, 0) if moto else (0, 7))
    assert {e["NetworkInterfaceId"] for e in enis} == {e["id"] for e in rec["enis"] if e["deviceIndex"] != 0}
    if not moto:
        prefixes = {p["Ipv4Prefix"] for e in enis for p in e["Ipv4Prefixes"]}
        assert {p for e in rec["enis"] for p in e.get("ipv4Prefixes", [])} == prefixes


def test_one_replica_works_and_a_standby_takes_over(world):
    ec2, kubectl, launch, controller = world
    first, first_port, _ = controller("replica-a")
    wait_for("replica-a leads", lambda: lease_holder(kubectl) == "replica-a")
    node_a = launch("node-a")
    check_provisioned(ec2, kubectl, "node-a", node_a)

    second, _, second_log = controller("replica-b")

    def standby_saw_the_lease():
        second_log.seek(0)
        return "standing by: the lease is held" in second_log.read()

    wait_for("replica-b finds the lease held", standby_saw_the_lease)
    # The leader renews twice more while the standby keeps trying (every retry period).
    for _ in range(2):
        renewed = lease_renew_time(kubectl)
        wait_for("the leader renews", lambda: lease_renew_time(kubectl) != renewed)
    assert lease_holder(kubectl) == "replica-a", "the standby waits while the leader renews"
    second_log.seek(0)
    assert "became leader" not in second_log.read()

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{first_port}/metrics", timeout=10).read().decode()
    assert 'vpcnet_controller_nodes{state="provisioned"} 1' in metrics
    assert 'vpcnet_ec2_requests_total{action="CreateNetworkInterface",outcome="success"} 1' in metrics, metrics
    assert "vpcnet_controller_node_provision_seconds" in metrics

    first.kill()  # a crash: no release, so the standby waits out the lease
    first.wait(timeout=10)
    node_b = launch("node-b")
    wait_for("replica-b leads", lambda: lease_holder(kubectl) == "replica-b", timeout=30)
    check_provisioned(ec2, kubectl, "node-b", node_b)

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    assert lease_holder(kubectl) is None, "a clean shutdown releases the Lease"


def test_help_documents_every_setting():
    text = subprocess.run([CONTROLLER, "--help"], capture_output=True, text=True, timeout=30).stdout
    for word in ["--cluster-name", "--workers", "--subnet-tags", "--delete-enis-on-node-deletion", "--sweep-interval", "--sweep-grace",
                 "--verify-period", "--config", "--kubeconfig", "--metrics-listen", "--leader-elect", "--lease-duration",
                 "VPCNET_CLUSTER_NAME", "VPCNET_WORKERS", "VPCNET_SUBNET_TAGS", "VPCNET_CONFIG", "AWS_ENDPOINT_URL_EC2", "KUBECONFIG"]:
        assert word in text, word


def test_bad_configuration_is_refused_clearly(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("cluster-name: prod\nworkerz: 3\n")
    result = subprocess.run([CONTROLLER, "--config", str(config)], capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, KUBECONFIG="/nonexistent"))
    assert result.returncode != 0 and 'unknown setting "workerz"' in result.stderr, result.stderr
    result = subprocess.run([CONTROLLER], capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]})
    assert result.returncode != 0 and "cluster name is required" in result.stderr, result.stderr


def test_happy_path_against_moto(tmp_path):
    """The wire format checked by an independent EC2 emulator: moto answers every call the
    controller makes for one m5.large node (signatures are checked against moto elsewhere)."""
    kubeconfig = str(tmp_path / "kubeconfig")
    kube_proc, _ = start(SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig)
    controller = None
    try:
        with moto_server() as url:
            ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET)
            vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
            # moto picks secondary addresses at random without checking other ENIs, so two ENIs can get the
            # same one (the controller then refuses the record). A /16 makes that about 1 in 400 runs.
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/16", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
            group = ec2.create_security_group(VpcId=vpc, GroupName="nodes", Description="nodes")["GroupId"]
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            instance = ec2.run_instances(ImageId=image, InstanceType="m5.large", MinCount=1, MaxCount=1, SubnetId=subnet,
                                         SecurityGroupIds=[group])["Instances"][0]["InstanceId"]
            subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "create", "-f", "-"], check=True, capture_output=True, text=True,
                           input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "moto-node"},
                                             "spec": {"providerID": f"aws:///us-east-1a/{instance}"}}))
            env = dict(os.environ, KUBECONFIG=kubeconfig, AWS_ENDPOINT_URL_EC2=url, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=KEY,
                       AWS_SECRET_ACCESS_KEY=SECRET, VPCNET_CLUSTER_NAME="moto", VPCNET_METRICS_LISTEN="",
                       AWS_EC2_METADATA_DISABLED="true", VPCNET_LOG_LEVEL="debug",
                       # moto accepts Ipv4PrefixCount and gives no prefix (moto 5.2.1 does not model them).
                       VPCNET_PREFIX_DELEGATION="off")
            log = open(tmp_path / "controller.log", "w+")
            controller = subprocess.Popen([CONTROLLER, "--no-leader-elect"], env=env, stdout=log, stderr=subprocess.STDOUT)

            def kubectl(*args):
                return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], check=True, capture_output=True, text=True).stdout
            try:
                check_provisioned(ec2, kubectl, "moto-node", instance, moto=True)
            except AssertionError:
                log.seek(0)
                raise AssertionError(log.read()[-3000:])
            finally:
                controller.kill()
                controller.wait(timeout=10)
    finally:
        kube_proc.kill()
        kube_proc.wait(timeout=10)
