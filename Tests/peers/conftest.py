"""Fixtures more than one peer-test module uses."""
import pytest

import kubesim_harness


@pytest.fixture
def kubesim():
    """vpcnet's Kubernetes API simulator: yields ((url, ssl context), kubectl, kubeconfig path)."""
    yield from kubesim_harness.serve()
