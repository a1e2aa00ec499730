"""What the peer tests share: where the built executables are (the Makefile passes them in the
environment), the EC2 simulator's test keys, and waiting for a condition with a deadline."""
import contextlib
import os
import signal
import socket
import subprocess
import time

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.path.join(ROOT, ".build", "debug")
SIM = os.environ.get("VPCNET_SIM", os.path.join(BUILD, "vpcnet-sim"))
CONTROLLER = os.environ.get("VPCNET_ENI_CONTROLLER", os.path.join(BUILD, "eni-controller"))
DAEMON = os.environ.get("VPCNET_DAEMON", os.path.join(BUILD, "vpcnet-daemon"))
IPAM = os.environ.get("VPCNET_IPAM", os.path.join(BUILD, "vpcnet-ipam"))
CNITOOL = os.environ.get("VPCNET_CNITOOL", os.path.join(ROOT, ".build", "cnitool"))
PROTO = os.path.join(ROOT, "proto")
IS_ROOT = os.geteuid() == 0
# The AWS documentation's example keys, which the EC2 simulator accepts by default.
KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def run(*argv, check=True, **kwargs):
    result = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {result.stderr}")
    return result


def wait_for(what, condition, timeout=60, interval=0.05):
    """Polls `condition` until it returns something true (and returns that); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"never happened: {what}")


def scrape(url):
    """Prometheus text → {(name, frozenset(labels)): value}."""
    import re
    import urllib.request
    samples = {}
    for line in urllib.request.urlopen(url + "/metrics", timeout=10).read().decode().splitlines():
        match = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
        if match and not line.startswith("#"):
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_server():
    """A fresh moto_server (an independent EC2 emulator) on a free port; yields its URL once it answers."""
    import boto3
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET)

        def answers():
            try:
                return ec2.describe_vpcs() is not None
            except Exception:
                return False
        wait_for("moto up", answers, timeout=60)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # moto_server ignores SIGTERM
        proc.wait(timeout=10)
