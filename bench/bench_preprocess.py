"""Preprocessing throughput and peak memory on synthetic NTU-60-like raw files.

Writes (once, then reuses) ``--samples`` synthetic ``.skeleton`` files of 50-150 frames
with ``skelkit.data.synth``, then runs ``skelkit.data.preprocess.preprocess`` in a fresh
process per measurement and prints:

* throughput (samples per wall second, and per CPU second of all processes, which is
  less sensitive to a busy machine) with 1 process and with ``--workers`` processes, with
  the compiled reader and with the pure-Python readers (``SKELKIT_NO_EXTENSION=1``);
* the whole process's wall time, interpreter start-up and imports included (what a timing
  of the reference scripts from the shell includes);
* peak resident memory of the preprocessing process on half and on all of the files
  (streaming to disk keeps it flat: it must not grow with the dataset).

Usage::

    python bench/bench_preprocess.py --work WORK_DIR [--samples 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _synth(raw: Path, samples: int) -> None:
    from skelkit.data.synth import synthesize

    if raw.is_dir() and len(list(raw.rglob("*.skeleton"))) == samples:
        return
    started = time.perf_counter()
    synthesize("ntu60", raw, samples=samples, classes=60, seed=0, min_length=50, max_length=150)
    print(f"synthesised {samples} files in {time.perf_counter() - started:.1f}s", file=sys.stderr)


def _subset(raw: Path, target: Path, count: int) -> Path:
    """A folder of symlinks to the first ``count`` raw files."""
    files = sorted(raw.rglob("*.skeleton"))[:count]
    folder = target / "nturgb+d_skeletons"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    return target


def _child(raw: str, out: str, workers: int) -> None:
    """Run one preprocessing job and print its figures as JSON (in a fresh process)."""
    from skelkit.data.preprocess import preprocess

    started = time.perf_counter()
    report = preprocess("ntu60", [raw], out=out, workers=workers)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    figures = {
        "samples": report.samples,
        "frames": report.frames,
        "seconds": seconds,
        "samples_per_second": report.samples / seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "file_mb": Path(out).stat().st_size / 2**20,
    }
    print(json.dumps(figures))


def _measure(raw: Path, out: Path, workers: int, pure: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(raw), str(out), str(workers)]
    env = {**os.environ, "SKELKIT_NO_EXTENSION": "1"} if pure else None
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    process_seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stderr)
    out.unlink(missing_ok=True)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = process_seconds
    return figures


def main() -> None:
    """Parse the options, prepare the raw files, run and print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="scratch folder (required)")
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--child", nargs=3, metavar=("RAW", "OUT", "WORKERS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.work is None:
        parser.error("--work is required")
    args.work.mkdir(parents=True, exist_ok=True)
    raw = args.work / f"raw_ntu60_{args.samples}"
    _synth(raw, args.samples)
    half = _subset(raw, args.work / f"raw_ntu60_{args.samples // 2}_links", args.samples // 2)
    out = args.work / "bench.h5"
    from skelkit.data.compiled import ntu_scanner

    scanner = ntu_scanner()
    reader = "none" if scanner is None else scanner.variants()[-1]
    print(f"cpus available: {len(os.sched_getaffinity(0))}; compiled reader: {reader}")
    print(
        "run                                   samples  frames  wall s  samples/s  "
        "process s  CPU s  samples/CPU-s  peak RSS MB"
    )
    runs = [
        (f"1 process, {args.samples // 2} files", half, 1, False),
        (f"1 process, {args.samples} files", raw, 1, False),
        (f"{args.workers} workers, {args.samples} files", raw, args.workers, False),
        (f"1 process, {args.samples} files, pure", raw, 1, True),
    ]
    for label, folder, workers, pure in runs:
        f = _measure(folder, out, workers, pure)
        print(
            f"{label:<37} {f['samples']:>7.0f} {f['frames']:>7.0f} {f['seconds']:>7.2f} "
            f"{f['samples_per_second']:>10.1f} {f['process_seconds']:>10.2f} "
            f"{f['cpu_seconds']:>6.2f} {f['samples'] / f['cpu_seconds']:>14.1f} "
            f"{f['peak_rss_mb']:>12.1f}"
        )
    print(
        "wall s: the preprocess() call; process s: the whole child process, start-up and "
        "imports included"
    )


if __name__ == "__main__":
    main()
