"""The benchmark's one table: every measure with its baseline or bound from the same run, the ratio,
the target and whether it was met; printed, and written as JSON and Markdown."""
import datetime
import json
import os
import platform
import statistics
import subprocess


class Row:
    """One measure. `reference` is the baseline or bound measured (or computed) in the same run;
    `target` is the largest ratio ours/reference that passes. A row without a target informs."""

    def __init__(self, measure, ours, unit, reference=None, reference_name="", target=None, note="", exact=False):
        self.measure, self.ours, self.unit = measure, ours, unit
        self.reference, self.reference_name = reference, reference_name
        self.target, self.note, self.exact = target, note, exact

    @property
    def ratio(self):
        if self.reference in (None, 0) or self.ours is None:
            return None
        return self.ours / self.reference

    @property
    def ok(self):
        if self.target is None:
            return None
        if self.exact:  # a count that must equal its reference (failures: 0)
            return self.ours == self.reference
        return self.ratio is not None and self.ratio <= self.target

    def as_dict(self):
        return {"measure": self.measure, "ours": self.ours, "unit": self.unit, "reference": self.reference,
                "reference_name": self.reference_name, "ratio": self.ratio, "target": self.target,
                "exact": self.exact, "result": {True: "ok", False: "MISSED", None: "-"}[self.ok], "note": self.note}


def number(value, unit):
    if value is None:
        return "-"
    if isinstance(value, int) or unit in ("calls", "count", "instructions", "nodes"):
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def target_text(row):
    if row.target is None:
        return "-"
    return f"= {row.reference}" if row.exact else f"≤ {row.target:.2f}×"


def cells(row):
    reference = number(row.reference, row.unit) + (f" ({row.reference_name})" if row.reference_name else "")
    ratio = "-" if row.ratio is None or row.exact else f"{row.ratio:.2f}×"
    return [row.measure, number(row.ours, row.unit), reference, ratio, target_text(row), row.as_dict()["result"]]


HEADERS = ["measure", "ours", "baseline or bound", "ratio", "target", "result"]


def table(rows):
    lines = [HEADERS] + [cells(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)


def markdown(rows, machine, title):
    out = [f"# {title}", "", f"Run {machine['date']} on {machine['description']}.", "",
           "| " + " | ".join(HEADERS) + " | note |", "|" + "---|" * (len(HEADERS) + 1)]
    for row in rows:
        out.append("| " + " | ".join(cells(row) + [row.note]) + " |")
    return "\n".join(out) + "\n"


def machine():
    """What the figures were measured on (ratios travel between machines; absolute times do not)."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    filesystem = subprocess.run(["stat", "-f", "-c", "%T", "/"], capture_output=True, text=True).stdout.strip()
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[:1] if _has("swift") else []
    described = f"{os.cpu_count()} × {cpu}, {memory / 1024 / 1024:.0f} GiB, Linux {platform.release()}, / on {filesystem}"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
            "cpu": cpu, "memory_kib": memory, "kernel": platform.release(), "root_filesystem": filesystem,
            "swift": swift[0] if swift else "", "description": described}


def _has(command):
    return any(os.access(os.path.join(d, command), os.X_OK) for d in os.environ.get("PATH", "").split(":"))


def write(rows, directory, name, title, extra):
    """Writes NAME.json and NAME.md under `directory`; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    about = machine()
    document = {"machine": about, "rows": [row.as_dict() for row in rows], **extra}
    paths = (os.path.join(directory, name + ".json"), os.path.join(directory, name + ".md"))
    with open(paths[0], "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    with open(paths[1], "w") as f:
        f.write(markdown(rows, about, title))
    return paths


def median(samples):
    return statistics.median(samples)


def percentile(samples, p):
    """Nearest-rank percentile (p in 0…100) of a non-empty sample."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]
