"""Synthetic raw datasets in the real on-disk formats (``skelkit synth``).

:func:`synthesize` writes a folder that ``skelkit preprocess`` reads exactly as it reads the
real download: NTU RGB+D ``.skeleton`` files named ``SsssCcccPpppRrrrAaaa`` (NTU-120 in the
two folders of the release), or PKU-MMD skeleton, label and split files. The motion is
class-dependent and learnable (:mod:`skelkit.data.synth_motion`); the NTU files also hold
what the reference denoisers exist for: short spurious bodies, wide "spread" noise bodies,
frames without a body and performers that vanish and return.

Everything is deterministic in ``seed``: every file draws from its own random stream
(``seed``, file index), and class motions depend only on the class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from skelkit.errors import ConfigError

_Task = TypeVar("_Task")
_Result = TypeVar("_Result")

#: The denoiser situations an NTU file may contain (keys of :attr:`SynthReport.situations`).
SITUATIONS: tuple[str, ...] = ("spurious", "spread", "empty_frames", "vanish", "two_person")


@dataclass(frozen=True)
class NoiseRates:
    """Fraction of NTU files that get each tracking artefact (independently of each other).

    ``max(1, round(rate * files))`` files get an artefact whose rate is above zero, so a
    small synthetic set still contains every situation.
    """

    #: A spurious body with its own id, present for 1 to 11 frames (length filter).
    spurious: float = 0.15
    #: A wide, flat "table" body present for more than 11 frames (spread filter).
    spread: float = 0.1
    #: Frames with no body before the action starts and after it ends.
    empty_frames: float = 0.15
    #: The main performer disappears for a few frames and returns with the same id.
    vanish: float = 0.1

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"noise rate '{item.name}' must be in [0, 1], got {value}")


@dataclass(frozen=True)
class SynthOptions:
    """What to generate (see :func:`synthesize` for the meaning of each field)."""

    samples: int
    classes: int
    seed: int = 0
    min_length: int = 50
    max_length: int = 150
    noise: NoiseRates = field(default_factory=NoiseRates)
    workers: int = 1

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.samples}")
        if self.classes < 1:
            raise ConfigError(f"--classes must be at least 1, got {self.classes}")
        if self.min_length < 20:
            raise ConfigError(
                f"the minimum length must be at least 20 frames, got {self.min_length} "
                "(shorter performers would be removed as noise by the denoisers)"
            )
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.max_length < self.min_length:
            raise ConfigError(
                f"the maximum length {self.max_length} is below the minimum {self.min_length}"
            )


@dataclass
class SynthReport:
    """What :func:`synthesize` wrote.

    Attributes:
        dataset: the dataset name.
        out_dir: the folder holding the raw files.
        samples: the number of samples (NTU files; PKU-MMD labelled action instances).
        files: the number of skeleton files written.
        actions: the 1-based action ids used (class label = action - 1).
        situations: for every entry of :data:`SITUATIONS`, how many files have it.
        folders: the folders the skeleton files are in (relative to ``out_dir``).
        seconds: wall time.
    """

    dataset: str
    out_dir: Path
    samples: int
    files: int
    actions: tuple[int, ...]
    situations: dict[str, int]
    folders: tuple[str, ...]
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "dataset": self.dataset,
            "out_dir": str(self.out_dir),
            "samples": self.samples,
            "files": self.files,
            "actions": list(self.actions),
            "situations": dict(self.situations),
            "folders": list(self.folders),
            "seconds": round(self.seconds, 3),
        }


def run_tasks(
    function: Callable[[_Task], _Result], tasks: Sequence[_Task], workers: int
) -> Iterator[_Result]:
    """``map(function, tasks)`` in order, in ``workers`` processes when more than one."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(function, tasks)
        return
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(tasks) // (8 * workers))
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        yield from pool.map(function, tasks, chunksize=chunk)


def spread_actions(num_actions: int, classes: int, dataset: str) -> tuple[int, ...]:
    """Choose ``classes`` action ids (1-based) spread evenly over ``1..num_actions``.

    Spreading (rather than taking the first ids) puts NTU-120 samples in both setup ranges
    (and both raw folders) and includes two-person classes.
    """
    if classes > num_actions:
        raise ConfigError(
            f"--classes {classes} is more than the {num_actions} action classes of {dataset}; "
            f"use at most {num_actions}"
        )
    if classes == 1:
        return (1,)
    step = (num_actions - 1) / (classes - 1)
    return tuple(round(1 + i * step) for i in range(classes))


#: Datasets :func:`synthesize` can write, by raw format.
NTU_DATASETS: tuple[str, ...] = ("ntu60", "ntu120")
PKU_DATASETS: tuple[str, ...] = ("pkummd1", "pkummd2")


def supported_datasets() -> tuple[str, ...]:
    """Every dataset name :func:`synthesize` accepts."""
    return NTU_DATASETS + PKU_DATASETS


def synthesize(
    dataset: str,
    out_dir: Path,
    samples: int,
    classes: int,
    seed: int = 0,
    *,
    min_length: int = 50,
    max_length: int = 150,
    noise: NoiseRates | Mapping[str, float] | None = None,
    workers: int = 1,
) -> SynthReport:
    """Write a synthetic raw dataset in ``dataset``'s real on-disk format.

    Args:
        dataset: ``ntu60``, ``ntu120`` (``.skeleton`` files), ``pkummd1`` or ``pkummd2``
            (PKU-MMD skeleton, label and split files).
        out_dir: the folder to write into (created; existing files of the same names are
            overwritten). Pass it to ``skelkit preprocess`` as the raw folder.
        samples: NTU: number of ``.skeleton`` files (performances are recorded by the three
            cameras, as in the real set); PKU-MMD: number of labelled action instances.
        classes: number of action classes, spread over the dataset's action ids.
        seed: the random seed; the same seed writes the same bytes.
        min_length: shortest action in frames.
        max_length: longest action in frames.
        noise: NTU tracking artefact rates (:class:`NoiseRates` or a mapping of its fields).
        workers: processes writing files (the output does not depend on it).

    Raises:
        ConfigError: an unknown dataset or an impossible request.
    """
    if isinstance(noise, NoiseRates):
        rates = noise
    else:
        unknown = sorted(set(noise or {}) - {f.name for f in fields(NoiseRates)})
        if unknown:
            known = ", ".join(f.name for f in fields(NoiseRates))
            raise ConfigError(f"unknown noise rate {unknown[0]!r}; known: {known}")
        rates = NoiseRates(**dict(noise or {}))
    options = SynthOptions(samples, classes, seed, min_length, max_length, rates, workers)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    if dataset in NTU_DATASETS:
        from skelkit.data.synth_ntu import write_ntu

        report = write_ntu(dataset, out_dir, options)
    elif dataset in PKU_DATASETS:
        from skelkit.data.synth_pku import write_pku

        report = write_pku(dataset, out_dir, options)
    else:
        raise ConfigError(
            f"skelkit synth can not write dataset {dataset!r}; "
            f"it writes {', '.join(supported_datasets())}"
        )
    report.seconds = time.perf_counter() - started
    return report
