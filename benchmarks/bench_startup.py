#!/usr/bin/env python
"""Start-up time of the command line: median of several runs, against ``python -c pass``.

    python benchmarks/bench_startup.py            # 7 runs of each
    python benchmarks/bench_startup.py --runs 15

Each command runs in a fresh process (what a user waits for after pressing Enter), from the
same virtual environment; the baseline is the interpreter starting and doing nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table  # noqa: E402

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import qpvgeo.cli": [sys.executable, "-c", "import qpvgeo.cli"],
    "qpvgeo --help": [sys.executable, "-m", "qpvgeo", "--help"],
    "qpvgeo fdc --expenses 129935": [sys.executable, "-m", "qpvgeo", "fdc", "--expenses", "129935"],
    "qpvgeo check 2.26006,50.75359": [sys.executable, "-m", "qpvgeo", "check", "2.26006,50.75359"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows, base = [], None
    for name, cmd in COMMANDS.items():
        subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        base = base or med
        rows.append({"command": name, "median_s": f"{med:.3f}", "over python -c pass": f"+{med - base:.3f} s"})
    print(table(rows))


if __name__ == "__main__":
    main()
