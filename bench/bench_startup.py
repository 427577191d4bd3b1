"""Start-up cost: ``skelkit --help`` against a bare ``import torch``.

Prints the median wall time of each over several runs (fresh interpreters, run alternately
so machine noise hits both alike) and their ratio. Target: ``skelkit --help`` under 40 % of
a bare torch import, which holds only while the CLI never imports torch at start-up.

    python bench/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("skelkit")
    help_cmd = [script, "--help"] if script else [sys.executable, "-m", "skelkit", "--help"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    _time(help_cmd), _time(torch_cmd)  # warm the file cache
    help_times, torch_times = [], []
    for _ in range(args.runs):
        help_times.append(_time(help_cmd))
        torch_times.append(_time(torch_cmd))
    help_median = statistics.median(help_times)
    torch_median = statistics.median(torch_times)
    print(f"runs: {args.runs}")
    print(f"skelkit --help   median {help_median * 1000:8.1f} ms")
    print(f"import torch     median {torch_median * 1000:8.1f} ms")
    ratio = help_median / torch_median
    print(f"ratio            {ratio:8.1%}  (target < 40%: {'met' if ratio < 0.4 else 'NOT met'})")


if __name__ == "__main__":
    main()
