"""A tiny PCM3 (GRU width 16, 2 layers, small queue and prompts) for the PCM3 tests."""

from __future__ import annotations

from skelkit.config import resolve_config
from skelkit.methods.build import build_method
from skelkit.registry import get_registries
from skelkit_pcm3.method import PCM3Method

HIDDEN = 16
PROMPT = 4
TINY = [
    f"encoder.hidden_size={HIDDEN}",
    "encoder.num_layers=2",
    f"method.prompt_size={PROMPT}",
    "method.dim=8",
    "method.queue_size=40",
    "method.decoder_dim=12",
]


def tiny_method(*extra: str) -> PCM3Method:
    """The PCM3 preset with :data:`TINY` and ``extra`` overrides, built."""
    config = resolve_config(get_registries(), preset="pcm3", overrides=[*TINY, *extra])
    method = build_method(config)
    assert isinstance(method, PCM3Method)
    return method
