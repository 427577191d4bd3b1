"""``skelkit preprocess``: raw files -> one HDF5 store, in parallel, streamed to disk.

The dataset finds its raw sources (:meth:`DatasetInfo.discover`); worker processes read
each source and run the recipe on its samples; the parent receives the results in source
order (at most a few per worker in flight, so memory stays flat) and streams them into a
:class:`~skelkit.data.store.StoreWriter`, which renames the finished file into place. The
output therefore never depends on ``workers``, and an interrupted or failed run leaves
nothing at the output path.

``on_error="fail"`` (default) stops at the first bad raw file with its DataError (file and
line). ``on_error="skip"`` leaves the bad file or sample out, and records it with its
reason in the store (``skipped/``) and in the returned report. Samples a recipe drops by
design (``process`` returns ``None`` and says why in ``drop_reason``, e.g. an all-zero
PKU-MMD instance) are recorded the same way in both modes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from skelkit.data.compiled import crc32_function
from skelkit.data.datasets import RawSource
from skelkit.data.settings import default_store_path
from skelkit.data.store import SkippedSample, StoreWriter
from skelkit.errors import ConfigError, DataError
from skelkit.specs import ComponentSpec

ON_ERROR = ("fail", "skip")
#: Sources handed to a worker at a time.
CHUNK_SOURCES = 8
#: Chunks in flight per worker (bounds the parent's memory).
IN_FLIGHT_PER_WORKER = 3

#: ``progress(done_sources, total_sources, samples_written)``.
ProgressCallback = Callable[[int, int, int], None]


@dataclass
class PreprocessReport:
    """What :func:`preprocess` wrote."""

    dataset: str
    recipe: str
    out: Path
    sources: int
    samples: int
    frames: int
    skipped: list[SkippedSample] = field(default_factory=list)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    workers: int = 1
    seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        """Throughput of the whole run."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "dataset": self.dataset,
            "recipe": self.recipe,
            "out": str(self.out),
            "sources": self.sources,
            "samples": self.samples,
            "frames": self.frames,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "splits": self.splits,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "samples_per_second": round(self.samples_per_second, 1),
        }


@dataclass
class _SampleRecord:
    """What ``assign_splits`` needs of a written sample."""

    name: str
    meta: Mapping[str, Any]


@dataclass
class _SourceResult:
    """A worker's answer for one raw source."""

    name: str
    digest: str
    samples: list[Any]
    problems: list[SkippedSample]
    dropped: list[SkippedSample]


# -- components --------------------------------------------------------------------------------


def load_dataset(name: str) -> Any:
    """The dataset definition called ``name`` (registry kind ``datasets``)."""
    from skelkit.registry import get_registries

    spec = get_registries().get("datasets", name).spec
    assert isinstance(spec, ComponentSpec)
    return spec.load()(**dict(spec.defaults))


def load_recipe(name: str, dataset: str, options: Mapping[str, Any] | None = None) -> Any:
    """Build the recipe called ``name`` (registry kind ``recipes``) for ``dataset``.

    ``options`` are the factory's keyword options; a factory parameter without a default
    named ``dataset`` receives the dataset name as context.
    """
    import inspect

    from skelkit.registry import component_params, get_registries

    spec = get_registries().get("recipes", name).spec
    assert isinstance(spec, ComponentSpec)
    params = component_params(spec)
    unknown = sorted(set(options or {}) - set(params))
    if unknown:
        raise ConfigError(
            f"recipe {name!r} has no option {unknown[0]!r}; options: "
            f"{', '.join(sorted(params)) or '(none)'}"
        )
    factory = spec.load()
    kwargs = {**params, **dict(options or {})}
    if "dataset" in inspect.signature(factory).parameters and "dataset" not in params:
        kwargs["dataset"] = dataset
    return factory(**kwargs)


def recipe_constants(recipe: Any) -> dict[str, Any]:
    """The constants a recipe reports (its ``constants`` mapping), JSON-friendly."""
    constants = getattr(recipe, "constants", {}) or {}
    return {str(k): _plain(v) for k, v in dict(constants).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


# -- the work of one source (runs in the workers) -----------------------------------------------

_WORKER: tuple[Any, Any] | None = None


def _init_worker(dataset: Any, recipe: Any) -> None:
    """Worker start-up: keep the components; Ctrl-C is the parent's to handle."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = (dataset, recipe)


def content_digest(contents: Sequence[bytes]) -> str:
    """The digest of a source's files for the store's ``raw_fingerprint``: size and CRC-32
    of each (a checksum that detects changed files at memory speed, not a secure hash)."""
    crc32 = crc32_function()
    return ",".join(f"{len(data)}:{crc32(data):08x}" for data in contents)


def _read_file(path: str | Path) -> bytes:
    with open(path, "rb", buffering=0) as handle:
        return handle.readall()


def _read_contents(source: Any) -> tuple[Any, tuple[bytes, ...]]:
    """The bytes of a source's files, read once for the digest and for the dataset's reader
    (a :class:`RawSource` comes back carrying them)."""
    contents = tuple(_read_file(path) for path in getattr(source, "paths", ()))
    if isinstance(source, RawSource) and contents:
        source = replace(source, contents=contents)
    return source, contents


def _process_source(dataset: Any, recipe: Any, source: Any) -> _SourceResult:
    name = str(getattr(source, "name", source))
    where = str(source.paths[0]) if getattr(source, "paths", ()) else name
    try:
        source, contents = _read_contents(source)
        digest = content_digest(contents)
        raw_samples = dataset.read(source)
    except DataError as err:
        return _SourceResult(name, "", [], [SkippedSample(where, str(err))], [])
    except OSError as err:
        return _SourceResult(name, "", [], [SkippedSample(where, f"{where}: {err}")], [])
    samples, problems, dropped = [], [], []
    for raw in raw_samples:
        try:
            processed = recipe.process(raw)
        except DataError as err:  # the reference pipeline would fail on this sample
            problems.append(SkippedSample(str(getattr(raw, "source", where)), str(err)))
            continue
        if processed is None:  # dropped by design, as the reference pipeline does
            reason = getattr(recipe, "drop_reason", None) or f"{raw.name}: dropped by the recipe"
            dropped.append(SkippedSample(raw.name, str(reason)))
            continue
        samples.append(processed)
    return _SourceResult(name, digest, samples, problems, dropped)


def _process_chunk(sources: Sequence[Any]) -> list[_SourceResult]:
    assert _WORKER is not None, "worker not initialised"
    dataset, recipe = _WORKER
    return [_process_source(dataset, recipe, s) for s in sources]


def _ordered_results(
    dataset: Any, recipe: Any, sources: Sequence[Any], workers: int
) -> Generator[_SourceResult, None, None]:
    """Results of every source, in order; ``workers`` processes with bounded look-ahead."""
    if workers <= 1:
        for source in sources:
            yield _process_source(dataset, recipe, source)
        return
    import multiprocessing

    chunks = [sources[i : i + CHUNK_SOURCES] for i in range(0, len(sources), CHUNK_SOURCES)]
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(dataset, recipe),
    )
    pending: deque[Future[list[_SourceResult]]] = deque()
    try:
        todo = iter(chunks)
        yield from _drain(pool, todo, pending, workers)
    except BrokenProcessPool as err:
        raise DataError(
            "a preprocessing worker died (out of memory, killed, or preprocess() was called "
            'from a script without an `if __name__ == "__main__":` guard); run again with '
            "--workers 1 to see the cause"
        ) from err
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(
    pool: ProcessPoolExecutor,
    todo: Iterator[Sequence[Any]],
    pending: deque[Future[list[_SourceResult]]],
    workers: int,
) -> Iterator[_SourceResult]:
    """Keep ``workers * IN_FLIGHT_PER_WORKER`` chunks submitted; yield results in order."""
    for chunk in todo:
        pending.append(pool.submit(_process_chunk, chunk))
        if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
            break
    while pending:
        results = pending.popleft().result()
        next_chunk = next(todo, None)
        if next_chunk is not None:
            pending.append(pool.submit(_process_chunk, next_chunk))
        yield from results


# -- orchestration -----------------------------------------------------------------------------


def default_workers() -> int:
    """Worker processes when none are asked for: the usable CPUs, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def preprocess(
    dataset: str,
    raw_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    recipe: str | None = None,
    workers: int = 1,
    on_error: str = "fail",
    *,
    recipe_options: Mapping[str, Any] | None = None,
    compression: str = "none",
    overwrite: bool = True,
    progress: ProgressCallback | None = None,
) -> PreprocessReport:
    """Turn a dataset's raw files into a skelkit store and return what was written.

    Args:
        dataset: a registered dataset name (``ntu60``, ``ntu120``, ``pkummd1``, ...).
        raw_dirs: the raw folders (searched recursively).
        out: the output ``.h5``; default ``$SKELKIT_DATA_DIR/<dataset>_<recipe>.h5``
            (``~/.cache/skelkit/data`` when the variable is unset).
        recipe: the recipe name; default the dataset's ``default_recipe``.
        workers: worker processes (0: :func:`default_workers`; 1: in this process).
        on_error: ``fail`` (stop at the first bad raw file) or ``skip`` (record and go on).
        recipe_options: keyword options of the recipe's factory.
        compression: ``none`` (default), ``lzf`` or ``gzip[:LEVEL]`` for ``frames``.
        overwrite: replace an existing output (else DataError).
        progress: called after every source with (done, total, samples written).

    Raises:
        DataError: bad raw input (with ``on_error="fail"``), no sample at all, or an
            unusable output path. Nothing is left at ``out`` in that case.
        ConfigError: an unknown ``on_error``, recipe option or negative ``workers``.
    """
    started = time.perf_counter()
    if on_error not in ON_ERROR:
        raise ConfigError(f"--on-error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    workers = workers or default_workers()
    info = load_dataset(dataset)
    recipe_name = recipe or str(getattr(info, "default_recipe", "") or "")
    if not recipe_name:
        raise ConfigError(f"dataset {dataset!r} names no default recipe; pass --recipe NAME")
    recipe_obj = load_recipe(recipe_name, info.name, recipe_options)
    out_path = Path(out) if out is not None else default_store_path(info.name, recipe_name)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"can not create the output folder {out_path.parent}: {exc.strerror}"
        ) from exc
    if out_path.exists() and not overwrite:
        raise DataError(f"{out_path} exists; remove it or choose another --out")
    sources = info.discover([Path(d) for d in raw_dirs])
    writer = StoreWriter(
        out_path,
        dataset=info.name,
        recipe=recipe_name,
        recipe_constants=recipe_constants(recipe_obj),
        class_names=tuple(getattr(info, "class_names", ())),
        compression=compression,
    )
    with writer:
        records, fingerprint = _write_samples(
            writer, info, recipe_obj, sources, workers, on_error, progress
        )
        if not records:
            raise DataError(
                f"no sample of {info.name} could be preprocessed from "
                f"{', '.join(map(str, raw_dirs))} ({len(writer.skipped)} skipped)"
            )
        splits = info.assign_splits(records)
        writer.set_splits(splits)
        writer.set_attrs(raw_fingerprint=fingerprint)
        skipped = list(writer.skipped)
    return PreprocessReport(
        dataset=info.name,
        recipe=recipe_name,
        out=out_path,
        sources=len(sources),
        samples=len(records),
        frames=writer.num_frames,
        skipped=skipped,
        splits={s: {p: len(idx) for p, idx in parts.items()} for s, parts in splits.items()},
        workers=workers,
        seconds=time.perf_counter() - started,
    )


def _write_samples(
    writer: StoreWriter,
    info: Any,
    recipe: Any,
    sources: Sequence[Any],
    workers: int,
    on_error: str,
    progress: ProgressCallback | None,
) -> tuple[list[_SampleRecord], str]:
    """Stream every source's samples into ``writer``; return the records and fingerprint."""
    records: list[_SampleRecord] = []
    fingerprint = hashlib.sha256()
    results = _ordered_results(info, recipe, sources, workers)
    with closing(results):
        for done, result in enumerate(results, start=1):
            _write_result(writer, result, on_error, records, fingerprint)
            if progress is not None:
                progress(done, len(sources), len(records))
    return records, fingerprint.hexdigest()


def _write_result(
    writer: StoreWriter,
    result: _SourceResult,
    on_error: str,
    records: list[_SampleRecord],
    fingerprint: Any,
) -> None:
    if result.problems and on_error == "fail":
        problem = result.problems[0]
        raise DataError(f"{problem.reason} (use --on-error skip to leave bad files out and go on)")
    fingerprint.update(f"{result.name}\0{result.digest}\n".encode())
    for problem in [*result.problems, *result.dropped]:
        writer.skip(problem.source, problem.reason)
    for sample in result.samples:
        writer.append(sample.name, sample.frames, sample.label, dict(sample.meta))
        records.append(_SampleRecord(sample.name, dict(sample.meta)))


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt meanwhile, so a killed run cleans up too."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = [
    "ON_ERROR",
    "PreprocessReport",
    "default_workers",
    "load_dataset",
    "load_recipe",
    "preprocess",
    "terminate_as_interrupt",
]
