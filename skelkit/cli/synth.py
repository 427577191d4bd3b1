"""``skelkit synth``: write a synthetic raw dataset in the real on-disk format."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_kind
from skelkit.errors import ConfigError


def parse_noise(items: list[str]) -> dict[str, float]:
    """Turn ``--noise KEY=RATE`` options into a mapping (ConfigError on a malformed item)."""
    rates: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            rate = float(value) if sep else None
        except ValueError:
            rate = None
        if rate is None:
            raise ConfigError(
                f"--noise {item!r} must look like KEY=RATE, e.g. --noise spurious=0.2"
            )
        rates[key.strip()] = rate
    return rates


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse a file, or a non-empty folder unless ``force`` (old files would mix in)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file; give a folder for the raw files")
    if not force and out.is_dir() and any(out.iterdir()):
        raise ConfigError(
            f"--out '{out}' is not empty: files of an earlier dataset would mix with the new "
            "ones; choose an empty or new folder, or pass --force to write into it anyway"
        )


def resolve_dataset(name: str) -> str:
    """The registered dataset ``name`` resolves to (PluginError with did-you-mean if unknown)."""
    from skelkit.registry import get_registries

    return get_registries().get("datasets", name).name


def synth_command(
    dataset: str = typer.Argument(
        ...,
        help="Dataset whose raw format to write (ntu60, ntu120, pkummd1, pkummd2).",
        autocompletion=complete_kind("datasets"),
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the raw files into."),
    samples: int = typer.Option(
        600, "--samples", "-n", help="NTU: .skeleton files; PKU-MMD: labelled action instances."
    ),
    classes: int = typer.Option(10, "--classes", "-k", help="Number of action classes."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed writes the same files."),
    min_length: int = typer.Option(50, "--min-length", help="Shortest action in frames."),
    max_length: int = typer.Option(150, "--max-length", help="Longest action in frames."),
    noise: list[str] = typer.Option(
        [],
        "--noise",
        help="NTU tracking artefact rate, e.g. --noise spurious=0.2 (keys: spurious, spread, "
        "empty_frames, vanish); repeatable.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty --out (files of the same names are replaced).",
    ),
    workers: int = typer.Option(
        0, "--workers", "-j", help="Writer processes; 0 = one per CPU (at most 8)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Write a synthetic raw dataset (learnable, class-dependent motion) for trying skelkit.

    The files have the real dataset's layout, names and official splits, so
    `skelkit preprocess DATASET --raw OUT` reads them like the real download.
    """
    from skelkit.data.preprocess import default_workers
    from skelkit.data.synth import synthesize

    name = resolve_dataset(dataset)
    check_out_dir(out, force)
    report = synthesize(
        name,
        out,
        samples,
        classes,
        seed,
        min_length=min_length,
        max_length=max_length,
        noise=parse_noise(noise),
        workers=workers or default_workers(),
    )
    if json_out:
        state.print_json(report.as_dict())
        return
    console = state.err_console()
    console.print(
        f"wrote {report.files} {name} skeleton files ({report.samples} samples, "
        f"{len(report.actions)} classes) to {out} in {report.seconds:.1f} s"
    )
    present = ", ".join(f"{k} {v}" for k, v in report.situations.items() if v)
    if present:
        console.print(f"files with: {present}")
    console.print(f"next: skelkit preprocess {name} --raw {out}")


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the application."""
    app.command("synth")(synth_command)
