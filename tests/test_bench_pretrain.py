"""``skelkit bench pretrain``: figures from the engine's real step on synthetic input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.train.bench import peak_tflops
from tests.engine_utils import TINY_MODEL

MODEL_ARGS = [a for item in TINY_MODEL if not item.startswith("train.") for a in ("--set", item)]


def test_bench_pretrain_json_on_cpu() -> None:
    args = ["bench", "pretrain", "--device", "cpu", "--batch-size", "4", "--steps", "2"]
    result = CliRunner().invoke(get_app(), [*args, "--warmup", "1", "--json", *MODEL_ARGS])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["method"] == "masked"
    assert figures["batch_size"] == 4
    assert figures["frames"] == 40
    assert figures["samples_per_s"] > 0
    assert figures["step_ms"] > 0
    assert figures["gflops_per_step"] > 0  # forward + backward matmuls were counted
    assert figures["peak_memory_mb"] > 0
    assert figures["mfu"] is None  # no peak table for CPUs


def test_bench_rejects_bad_options() -> None:
    result = CliRunner().invoke(
        get_app(), ["bench", "pretrain", "--precision", "fp16", "--device", "cpu"]
    )
    assert result.exit_code == 2
    assert "fp16 needs a CUDA device" in result.output


@pytest.mark.parametrize(
    ("name", "precision", "peak"),
    [
        ("NVIDIA H200", "bf16", 989.0),
        ("NVIDIA H100 PCIe", "bf16", 756.0),
        ("NVIDIA H100 80GB HBM3", "fp32", 67.0),
        ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
        ("NVIDIA GeForce RTX 4090", "fp16", 165.2),
        ("Tesla V100-SXM2-16GB", "bf16", None),
        ("Some Future GPU", "bf16", None),
    ],
)
def test_peak_table(name: str, precision: str, peak: float | None) -> None:
    assert peak_tflops(name, precision) == peak
