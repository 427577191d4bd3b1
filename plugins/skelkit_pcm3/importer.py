"""Import the official PCM3 checkpoints (``checkpoint_*.pth.tar``) as skelkit checkpoints.

An official file is ``{'epoch', 'state_dict', 'optimizer'}``; a DDP run prefixes every key
with ``module.``. It is read with ``torch.load(weights_only=True)``: nothing in it is
executed. As the official downstream scripts do, only the query encoder is kept
(``encoder_q.*`` without its ``fc`` head); its input BatchNorm statistics come along, and
they carry the effect of the input prompts.

Key mapping (the official GRU is one bidirectional ``nn.GRU``; skelkit's ``gru`` encoder
holds the two directions of every layer as separate GRUs, see
:mod:`skelkit_pcm3.encoder`)::

    encoder_q.input_norm.*                      -> encoder.input_norm.*
    encoder_q.encoder.gru.<w>_l{k}              -> encoder.layers.{k}.forward_gru.<w>_l0
    encoder_q.encoder.gru.<w>_l{k}_reverse      -> encoder.layers.{k}.reverse_gru.<w>_l0

The config is the ``pcm3`` preset with the GRU's width and depth read from the weights.
The official files do not say which stream they were trained on: a file or folder name
containing ``motion`` or ``bone`` selects that stream, otherwise ``joint``; change it in a
stored config with ``--set encoder.stream=...`` where a command takes overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from skelkit.config import resolve_config
from skelkit.errors import DataError
from skelkit.registry import get_registries
from skelkit.train.checkpoint import header
from skelkit.weights import load_untrusted, strip_prefixes

GRU_KEY = re.compile(
    r"^encoder_q\.encoder\.gru\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$"
)
NORM_PREFIX = "encoder_q.input_norm."
STREAM_WORDS = ("motion", "bone")


def official_state(data: Mapping[str, Any], source: str) -> dict[str, Tensor]:
    """The state dict of an official file (``state_dict`` entry, ``module.`` stripped)."""
    state = data.get("state_dict", data)
    if not isinstance(state, Mapping) or not state:
        raise DataError(f"'{source}' has no 'state_dict'; is it a PCM3 checkpoint?")
    plain = strip_prefixes(state, ("module.",))
    bad = [k for k, v in plain.items() if k.startswith("encoder_q.") and not isinstance(v, Tensor)]
    if bad:
        raise DataError(f"'{source}': state_dict entry '{bad[0]}' is not a tensor.")
    if not any(GRU_KEY.match(k) for k in plain):
        raise DataError(
            f"'{source}' is not a PCM3 GRU checkpoint (no 'encoder_q.encoder.gru.*' keys); "
            "choose the importer of the paper that produced it."
        )
    return plain


def map_keys(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """The query encoder's weights under skelkit's ``gru`` encoder names (head dropped)."""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith("encoder_q.") or key.startswith("encoder_q.fc"):
            continue
        if key.startswith(NORM_PREFIX):
            mapped[f"encoder.input_norm.{key[len(NORM_PREFIX) :]}"] = value
            continue
        match = GRU_KEY.match(key)
        if match is None:
            raise DataError(
                f"'{source}': unexpected key '{key}' in the PCM3 query encoder; the file is "
                "not an official PCM3 checkpoint."
            )
        weight, layer, reverse = match.groups()
        direction = "reverse_gru" if reverse else "forward_gru"
        mapped[f"encoder.layers.{layer}.{direction}.{weight}_l0"] = value
    return mapped


def encoder_overrides(state: Mapping[str, Tensor], source: Path) -> list[str]:
    """``--set`` overrides of the ``pcm3`` preset that describe this checkpoint's encoder."""
    layers = {int(m.group(2)) for k in state if (m := GRU_KEY.match(k))}
    hh = state["encoder_q.encoder.gru.weight_hh_l0"]
    ih = state["encoder_q.encoder.gru.weight_ih_l0"]
    hidden = int(hh.shape[1])
    if int(ih.shape[1]) != 150:
        raise DataError(
            f"'{source}': the GRU reads {int(ih.shape[1])} values per frame; skelkit's gru "
            "encoder reads 25 joints x 3 coordinates x 2 persons = 150."
        )
    lowered = [part.lower() for part in source.resolve().parts[-3:]]
    stream = next((w for w in STREAM_WORDS if any(w in part for part in lowered)), "joint")
    return [
        f"encoder.hidden_size={hidden}",
        f"encoder.num_layers={max(layers) + 1}",
        f"encoder.stream={stream}",
        # The official prompts cover 128 of 1024 units per direction; keep that share.
        f"method.prompt_size={max(1, hidden // 8)}",
    ]


def import_pcm3_checkpoint(path: str | Path) -> dict[str, Any]:
    """Convert an official PCM3 checkpoint file into a skelkit checkpoint dict.

    The result holds the encoder's weights only (``encoder.*``); its config is the ``pcm3``
    preset with the encoder's shape (and stream, see the module docstring).
    """
    source = Path(path)
    data = load_untrusted(source, paper="PCM3", weights_entry="'state_dict'")
    state = official_state(data, str(source))
    model = map_keys(state, str(source))
    config = resolve_config(
        get_registries(), preset="pcm3", overrides=encoder_overrides(state, source)
    )
    epoch = data.get("epoch")
    return {
        "skelkit": header("imported"),
        "config": config,
        "model": model,
        "dataset": None,
        "recipe": "agcn",
        "epoch": int(epoch) if isinstance(epoch, int) else 0,
        "step": 0,
        "source": {"importer": "pcm3", "file": source.name, "stream": config["encoder"]["stream"]},
    }
