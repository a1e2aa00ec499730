"""Running vpcnet's Kubernetes API simulator for a peer test, and talking to it: kubectl, raw
HTTPS with the simulator's CA, and lines from a watcher with a deadline. The `kubesim` fixture
(conftest.py) starts one per test."""
import base64
import json
import os
import select
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from support import SIM


def start_sim(*flags):
    directory = tempfile.mkdtemp(prefix="vpcnet-kubesim-")
    kubeconfig = os.path.join(directory, "kubeconfig")
    proc = subprocess.Popen([SIM, "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig", kubeconfig, *flags],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, line.split()[-1].rstrip("/"), kubeconfig


def tls_context(kubeconfig):
    """An SSL context with the CA and admin client certificate the simulator wrote into its kubeconfig."""
    directory = os.path.dirname(kubeconfig)
    fields = {}
    for line in open(kubeconfig):
        key, _, value = line.strip().partition(": ")
        if key.endswith("-data"):
            fields[key] = base64.b64decode(value)
    for key, data in fields.items():
        with open(os.path.join(directory, key), "wb") as file:
            file.write(data)
    context = ssl.create_default_context(cafile=os.path.join(directory, "certificate-authority-data"))
    context.load_cert_chain(os.path.join(directory, "client-certificate-data"), os.path.join(directory, "client-key-data"))
    return context


def serve():
    """A generator for the `kubesim` fixture: the simulator over HTTPS with its generated CA, a required token, and kubectl using the
    admin client certificate from the kubeconfig the simulator wrote."""
    proc, url, kubeconfig = start_sim("--tls", "--token", "peer-token")
    assert url.startswith("https://")
    context = tls_context(kubeconfig)

    def kubectl(*args, input=None, check=True):
        result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=input, capture_output=True, text=True, timeout=30)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result

    yield (url, context), kubectl, kubeconfig
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(os.path.dirname(kubeconfig), ignore_errors=True)


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


def raw(server, path, method="GET", body=None, content_type="application/json", headers=None):
    url, context = server if isinstance(server, tuple) else (server, None)
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
