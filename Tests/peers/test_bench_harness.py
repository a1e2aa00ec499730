"""The benchmark harness itself, at tiny sizes (`bench.py --quick`): every suite runs against the
built binaries and writes its table. Its figures are not checked: benchmarks are not tests."""
import json
import os
import subprocess
import sys

import pytest

from support import IS_ROOT

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "bench.py")


@pytest.mark.skipif(not IS_ROOT, reason="the benchmarks need root (network namespaces, a tmpfs)")
def test_every_suite_runs_and_writes_its_table(tmp_path):
    result = subprocess.run([sys.executable, BENCH, "--quick", "--results", str(tmp_path)], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    document = json.load(open(tmp_path / "quick.json"))
    measures = {row["measure"] for row in document["rows"]}
    for expected in ["pod set-up: ADD+DEL via libcni, median", "IPAM plugin ADD, instructions (callgrind)", "4 concurrent ADDs: p99 per ADD",
                     "daemon RSS, idle (configured, no pods)", "node ready: one node",
                     "20 nodes join at once (prefixes): all provisioned", "20 nodes join at once (/32 addresses): all provisioned",
                     "20 nodes join at once: prefixes against /32 addresses, EC2 calls per node",
                     "controller RSS with 40 nodes"]:
        assert expected in measures, f"{expected} missing from {sorted(measures)}"
    assert all(row["ours"] is not None and row["ours"] >= 0 for row in document["rows"])
    assert document["machine"]["cpus"] >= 1
    markdown = open(tmp_path / "quick.md").read()
    assert "| measure | ours | baseline or bound |" in markdown
    assert "ratio" in result.stdout and "written:" in result.stdout
