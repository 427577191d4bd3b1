"""Speed of ``skelkit synth``: samples per second for NTU and PKU-MMD raw files.

Prints, per dataset, the wall time and samples/s of :func:`skelkit.data.synth.synthesize`
with 1 and with ``--workers`` writer processes, and the share of the time spent in motion
generation (everything but formatting and writing the text files).

Usage::

    python bench/bench_synth.py --work /some/scratch/folder [--samples 1000] [--workers 4]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from skelkit.data.synth import synthesize
from skelkit.data.synth_motion import class_program, perform, performance_length, performer


def motion_only(samples: int) -> float:
    """Seconds to generate ``samples`` performances without writing anything."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for i in range(samples):
        program = class_program(i % 60, i % 60 >= 49)
        bodies = (performer(i % 40 + 1), performer(1))
        length = performance_length(program, bodies[0], rng, 50, 150)
        perform(program, bodies[: program.persons], length, rng)
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (emptied)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"motion only: {args.samples / motion_only(args.samples):.0f} performances/s")
    for dataset in ("ntu60", "ntu120", "pkummd1"):
        for workers in sorted({1, args.workers}):
            out = args.work / f"{dataset}-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            report = synthesize(dataset, out, args.samples, args.classes, seed=0, workers=workers)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
            print(
                f"{dataset:8s} workers={workers}: {report.samples} samples, {report.files} files, "
                f"{size:.0f} MiB in {report.seconds:.1f} s "
                f"({report.samples / report.seconds:.0f} samples/s)"
            )
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
