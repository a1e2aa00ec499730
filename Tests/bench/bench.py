#!/usr/bin/env python3
"""`make bench`: what users choose a CNI by, each figure beside its baseline or bound from the same
run (these machines are noisy: ratios hold, absolute times do not). Prints one table and writes
JSON and Markdown under bench/results/. Needs root (network namespaces, a tmpfs).

  bench.py [--quick] [--only cni,ready,storm] [--results DIR] [--name NAME]

--quick runs tiny sizes (a smoke run of the harness; its figures mean little). Exits 1 when a
target is missed (not in quick mode)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "peers"))

import report  # noqa: E402

SUITES = {
    "cni": ("the per-pod path and the daemon's footprint", "cni_path"),
    "ready": ("node ready time against the critical path", "node_ready"),
    "storm": ("many nodes joining at once, and the controller's footprint", "join_storm"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the figures")
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated suites: " + ", ".join(SUITES))
    parser.add_argument("--results", default=os.path.join(HERE, "..", "..", "bench", "results"))
    parser.add_argument("--name", default=None, help="file name of the results (default: latest, or quick)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (network namespaces, a tmpfs)")
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        raise SystemExit(f"bench: unknown suite {', '.join(unknown)} (known: {', '.join(SUITES)})")
    rows = []
    for name in chosen:
        title, module = SUITES[name]
        print(f"bench: {name}: {title}…", flush=True)
        rows += __import__(module).run_suite(options.quick)
    name = options.name or ("quick" if options.quick else "latest")
    json_path, md_path = report.write(rows, os.path.abspath(options.results), name, "vpcnet benchmarks",
                                      {"quick": options.quick, "suites": chosen})
    print()
    print(report.table(rows))
    print(f"\nwritten: {json_path}, {md_path}")
    missed = [row.measure for row in rows if row.ok is False]
    if missed:
        print(f"missed: {'; '.join(missed)}")
    sys.exit(1 if missed and not options.quick else 0)


if __name__ == "__main__":
    main()
