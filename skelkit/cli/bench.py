"""``skelkit bench``: throughput figures on synthetic input (nothing is written)."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.config_cmd import (
    CONFIG_OPTION,
    PLUGIN_OPTION,
    PRESET_OPTION,
    SET_OPTION,
    resolve_from_options,
)
from skelkit.cli.options import device_option, precision_option
from skelkit.cli.pretrain import shorthand_overrides


def bench_pretrain_command(
    plugin: list[str] = PLUGIN_OPTION,
    config: list[Path] = CONFIG_OPTION,
    overrides: list[str] = SET_OPTION,
    preset: str | None = PRESET_OPTION,
    device: str | None = device_option(None, "auto, cpu or cuda."),
    precision: str | None = precision_option(None, "fp32, bf16 or fp16."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Samples per step."),
    steps: int = typer.Option(10, "--steps", help="Timed optimizer steps."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed steps before timing."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON on stdout."),
) -> None:
    """Time pretraining steps of a method on synthetic input: samples/s, memory, MFU."""
    sets = [
        *overrides,
        *shorthand_overrides(device=device, precision=precision, batch_size=batch_size),
    ]
    resolved = resolve_from_options(plugin, config, sets, preset=preset)
    from skelkit.train.bench import bench_pretrain

    result = bench_pretrain(resolved, steps=steps, warmup=warmup)
    if json_out:
        state.print_json(result.as_dict())
        return
    console = state.err_console()
    console.print(
        f"{result.method} on {result.device_name} ({result.device}), {result.precision}, "
        f"batch {result.batch_size} x {result.frames} frames, "
        f"{result.parameters:,} parameters"
    )
    console.print(
        f"  {result.samples_per_s:,.1f} samples/s, {result.step_ms:.1f} ms/step "
        f"({result.steps} steps), peak memory {result.peak_memory_mb:,.0f} MiB"
    )
    line = f"  {result.gflops_per_step:,.1f} GFLOP/step, {result.achieved_tflops:.2f} TFLOP/s"
    if result.mfu is not None:
        line += f", MFU {result.mfu:.1%} of {result.peak_tflops:.0f} TFLOP/s peak"
    console.print(line)


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command group."""
    group = typer.Typer(help="Measure throughput on synthetic input.", no_args_is_help=True)
    group.command("pretrain")(bench_pretrain_command)
    app.add_typer(group, name="bench")
