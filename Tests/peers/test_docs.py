"""Documentation that must not drift from the code: the metrics table."""
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_every_metric_in_the_code_is_documented_and_nothing_else():
    in_code = set()
    for directory, _, files in os.walk(os.path.join(ROOT, "Sources")):
        for name in files:
            if name.endswith(".swift") and "Generated" not in directory:
                text = open(os.path.join(directory, name)).read()
                in_code |= set(re.findall(r'(?:label|count\()\s*:?\s*"(vpcnet_[a-z0-9_]+)"', text))
                in_code |= set(re.findall(r'count\("(vpcnet_[a-z0-9_]+)"', text))
    documented = set(re.findall(r"^\| `(vpcnet_[a-z0-9_]+)` \|", open(os.path.join(ROOT, "docs", "metrics.md")).read(), re.M))
    assert len(in_code) >= 15, in_code
    assert in_code - documented == set(), "metrics missing from docs/metrics.md"
    assert documented - in_code == set(), "docs/metrics.md lists metrics the code no longer has"
