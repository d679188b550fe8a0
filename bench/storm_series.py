"""Run bench/storm.py configurations in turn, round after round, one summary line per run: on a
machine that other work loads, the runs to compare are then back to back, and repeated.

    .venv/bin/python bench/storm_series.py --rounds 2 \\
        "--from-pbx --workers 2 --service-nice 0" "--from-pbx --workers 2" "--workers 2 --service-nice 0" "--workers 2"

Every run gets ``--secret --idle 1000 --reopen`` and the arguments of its configuration. Each line
(also appended to bench/results/storm-series.txt): UTC time, configuration, the 1-minute load
average before and after, then p50/p99/longest, the service's CPU and the fail-opens alone and
with the storm, the legitimate calls with no answer, the hostile connections open at most, the
p99 ratio, and any hostile kind that received something (``unexpected``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMON = ["--secret", "--idle", "1000", "--reopen"]


def cells(output: str, run: str) -> list[str]:
    """The cells of one row ("alone" or "with storm") of storm.py's table of legitimate calls."""
    found = re.search(rf"^\| {run} +\|(.*)\|$", output, re.M)
    return [c.strip() for c in found.group(1).split("|")] if found else []


def summary(config: str, output: str, load_before: float, load_after: float) -> str:
    alone, storm = cells(output, "alone"), cells(output, "with storm")
    head = f"{time.strftime('%H:%M', time.gmtime())} {config:42} load {load_before:5.1f} -> {load_after:5.1f}"
    if not alone or not storm:
        return f"{head} | FAILED"
    # hostile_open_max, service_cpu_pct, calls, errors, fail_open, p50_ms, p99_ms, max_ms
    unexpected = re.findall(r"^\| (\w+) +\| [\d-]+ +\| \d+ +\| ([1-9]\d*) +\| \d+ +\|$", output, re.M)
    return (
        f"{head} | alone p50 {alone[5]} p99 {alone[6]} max {alone[7]} cpu {alone[1]}% fail-open {alone[4]}"
        f" | storm p50 {storm[5]} p99 {storm[6]} max {storm[7]} cpu {storm[1]}% fail-open {storm[4]}"
        f" no-answer {storm[3]} open {storm[0]} | ratio {float(storm[6]) / float(alone[6]):.2f}"
        + (f" | unexpected {unexpected}" if unexpected else "")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("configs", nargs="+", help="bench/storm.py arguments of each configuration, one string each")
    args = ap.parse_args()
    out = REPO / "bench" / "results" / "storm-series.txt"
    out.parent.mkdir(exist_ok=True)
    for _ in range(args.rounds):
        for config in args.configs:
            load_before = os.getloadavg()[0]
            run = subprocess.run(
                [sys.executable, str(REPO / "bench" / "storm.py"), *COMMON, *config.split()],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            line = summary(config, run.stdout, load_before, os.getloadavg()[0])
            print(line, flush=True)
            with out.open("a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
