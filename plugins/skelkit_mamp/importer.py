"""Import the official MAMP checkpoints (``checkpoint-*.pth``) as skelkit checkpoints.

An official pretraining checkpoint is ``{'model': state_dict, 'optimizer', 'epoch',
'scaler', 'args': argparse.Namespace}``; downstream ones hold the encoder and a ``head``.
The file is read with ``torch.load(weights_only=True)``: nothing in it is executed. The
only class allowed besides tensors and plain data is ``argparse.Namespace``, and it is
rebuilt as an inert stand-in whose attributes become a plain dict.

Encoder keys are the same in both code bases (``temp_embed`` -> ``encoder.temp_embed``...);
the decoder keys are renamed (``decoder_blocks.i`` -> ``decoder.blocks.i``, ``mask_token``
-> ``decoder.mask_token``...); downstream ``head.*`` keys are dropped. The config is the
``mamp`` preset with the shapes read from the weights and the masking settings read from
the stored arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from skelkit.config import resolve_config
from skelkit.errors import DataError
from skelkit.methods.build import build_method
from skelkit.registry import get_registries
from skelkit.train.checkpoint import header
from skelkit.weights import (
    count_blocks,
    guess_dataset,
    load_untrusted,
    override,
    plain_record,
)

ENCODER_PREFIXES = ("temp_embed", "pos_embed", "joints_embed.", "blocks.", "norm.")
DECODER_RENAMES = (
    ("mask_token", "decoder.mask_token"),
    ("decoder_temp_embed", "decoder.temp_embed"),
    ("decoder_pos_embed", "decoder.pos_embed"),
    ("decoder_embed.", "decoder.embed."),
    ("decoder_blocks.", "decoder.blocks."),
    ("decoder_norm.", "decoder.norm."),
    ("decoder_pred.", "decoder.pred."),
)


def official_state(data: Mapping[str, Any], source: str) -> dict[str, Tensor]:
    """The state dict of an official checkpoint (``model`` entry, or the file itself)."""
    state = data.get("model", data)
    if not isinstance(state, Mapping) or not state:
        raise DataError(f"'{source}' has no 'model' state dict; is it a MAMP checkpoint?")
    if all(str(k).startswith("module.") for k in state):
        state = {str(k)[len("module.") :]: v for k, v in state.items()}
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise DataError(f"'{source}': model entry '{bad[0]}' is not a tensor.")
    if "pos_embed" not in state or "joints_embed.proj.weight" not in state:
        raise DataError(
            f"'{source}' is not a MAMP transformer checkpoint (no 'pos_embed' / "
            "'joints_embed.proj.weight'); choose the importer of the paper that produced it."
        )
    return dict(state)


def map_keys(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Rename official keys to the ``masked`` method's; ``head.*`` is dropped."""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("head."):
            continue
        if key.startswith(ENCODER_PREFIXES):
            mapped[f"encoder.{key}"] = value
            continue
        for old, new in DECODER_RENAMES:
            if key == old or (old.endswith(".") and key.startswith(old)):
                mapped[new + key[len(old) :]] = value
                break
        else:
            raise DataError(
                f"'{source}': unexpected key '{key}' in the MAMP state dict; the file is "
                "not an official MAMP checkpoint."
            )
    return mapped


def dataset_of(args: Mapping[str, Any]) -> str | None:
    """The dataset the official run trained on, from its feeder's data path."""
    feeder = args.get("train_feeder_args")
    return guess_dataset(str(feeder.get("data_path", "")) if isinstance(feeder, Mapping) else "")


def config_overrides(
    state: Mapping[str, Tensor], args: Mapping[str, Any], has_decoder: bool
) -> list[str]:
    """``--set`` overrides of the ``mamp`` preset that describe this checkpoint."""
    proj = state["joints_embed.proj.weight"]
    dim, in_channels, segment = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    model_args = args.get("model_args") if isinstance(args.get("model_args"), Mapping) else {}
    assert isinstance(model_args, Mapping)
    sets: dict[str, Any] = {
        "encoder.dim": dim,
        "encoder.in_channels": in_channels,
        "encoder.segment_length": segment,
        "encoder.num_frames": int(state["temp_embed"].shape[1]) * segment,
        "encoder.num_joints": int(state["pos_embed"].shape[2]),
        "encoder.depth": count_blocks(state, "blocks."),
        "encoder.mlp_ratio": float(state["blocks.0.mlp.fc1.weight"].shape[0] / dim),
        "encoder.num_heads": int(model_args.get("num_heads", 8)),
    }
    if has_decoder:
        sets["method.decoder_depth"] = count_blocks(state, "decoder_blocks.")
        sets["method.decoder_dim"] = int(state["decoder_embed.weight"].shape[0])
        sets["method.decoder_heads"] = int(model_args.get("num_heads", 8))
    model_name = str(args.get("model", ""))
    if "mask_ratio" in args:
        sets["masker.ratio"] = float(args["mask_ratio"])
    if "model_mae" in model_name:
        sets["masker.name"] = "random"
        sets["target.name"] = "coords"
    else:
        tau = float(args.get("motion_aware_tau", 0.0) or 0.0)
        if tau > 0:
            sets["masker.tau"] = tau
        elif "motion_aware_tau" in args:
            sets["masker.name"] = "random"
        if "motion_stride" in args:
            sets["target.stride"] = int(args["motion_stride"])
    if "norm_skes_loss" in model_args:
        sets["target.normalize"] = bool(model_args["norm_skes_loss"])
    return [override(key, value) for key, value in sets.items()]


def import_mamp_checkpoint(path: str | Path) -> dict[str, Any]:
    """Convert an official MAMP checkpoint file into a skelkit checkpoint dict.

    Pretraining checkpoints give the whole ``masked`` method's weights; downstream
    (linear / finetune) ones give the encoder's only (their head is dropped).
    """
    source = Path(path)
    data = load_untrusted(
        source, paper="MAMP", weights_entry="'model' state dict", allow_namespace=True
    )
    args = data.get("args") if isinstance(data.get("args"), Mapping) else {}
    assert isinstance(args, Mapping)
    state = official_state(data, str(source))
    has_decoder = "decoder_embed.weight" in state
    required = ["temp_embed", "blocks.0.mlp.fc1.weight"]
    required += ["decoder_embed.weight"] if has_decoder else []
    absent = [key for key in required if key not in state]
    if absent:
        raise DataError(f"'{source}' lacks '{absent[0]}'; the MAMP checkpoint is incomplete.")
    dataset = dataset_of(args)
    config = resolve_config(
        get_registries(),
        preset="mamp",
        dataset=dataset,
        overrides=config_overrides(state, args, has_decoder),
    )
    model = map_keys(state, str(source))
    check_fits(config, model, str(source))
    epoch = data.get("epoch")
    return {
        "skelkit": header("imported"),
        "config": config,
        "model": model,
        "dataset": dataset,
        "recipe": "ctrgcn",
        "epoch": int(epoch) + 1 if isinstance(epoch, int) else 0,
        "step": 0,
        "source": {
            "importer": "mamp",
            "file": source.name,
            "official_args": {str(k): plain_record(v) for k, v in args.items()},
        },
    }


def check_fits(config: Mapping[str, Any], model: Mapping[str, Tensor], source: str) -> None:
    """Raise :class:`DataError` unless ``model`` loads strictly into the configured method.

    Encoder-only weights (downstream checkpoints) are checked against the encoder alone.
    """
    method = build_method(config)
    target: Any = method
    weights = dict(model)
    if all(key.startswith("encoder.") for key in weights):
        target = method.encoder
        weights = {key[len("encoder.") :]: value for key, value in weights.items()}
    try:
        target.load_state_dict(weights)
    except RuntimeError as exc:
        raise DataError(
            f"'{source}': the weights do not fit a MAMP model of the shapes they imply "
            f"({_load_error(exc)}); the checkpoint is damaged or from a modified model."
        ) from exc


def _load_error(exc: BaseException) -> str:
    """The first specific line of a ``load_state_dict`` error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith("Error(s) in loading")]
    return (specific or lines or [type(exc).__name__])[0].rstrip(".")
