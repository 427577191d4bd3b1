"""Import the authors' Skeleton2vec checkpoints (``epoch-*.pth``) as skelkit checkpoints.

An authors' checkpoint is ``{'model': {'name', 'args', 'sd'}, 'optimizer': {...}, 'epoch',
'scale'}``: the model spec (plain data from the YAML config) and its state dict. It is read
with ``torch.load(weights_only=True)``: nothing in it is executed.

* A pretraining checkpoint (``Skeleton2Vec2``) holds the student autoencoder under
  ``auto_encoder.*`` and the EMA teacher under ``ema.model.*``: the student encoder and the
  decoder become the ``masked`` method's ``encoder.*`` / ``decoder.*``, the teacher's
  encoder ``target.teacher.*`` (its unused decoder is dropped). Downstream uses the teacher,
  as the authors do.
* A downstream checkpoint (``SkTForClassification``) holds one encoder under ``encoder.*``
  (the teacher when the authors' ``using_ema_model`` was on): it becomes ``encoder.*`` and
  the config's ``target.downstream`` is ``student`` (there is no second copy).

Key mapping (authors -> skelkit): ``encoder_embedding.projection.1`` ->
``joints_embed.proj``; ``encoder_embedding.spatio_pos_emb (1, D, 1, V)`` -> ``pos_embed
(1, 1, V, D)``; ``encoder_embedding.temporal_pos_emb (1, D, T', 1)`` -> ``temp_embed
(1, T', 1, D)``; ``encoder.layers.i`` -> ``blocks.i`` with ``attn.{queries, keys, values}`` ->
``attn.{q, k, v}``; ``encoder_norm`` -> ``norm``; ``decoder_embedding`` -> ``decoder.embed``,
``decoder.layers.i`` -> ``decoder.blocks.i``, ``decoder_norm`` -> ``decoder.norm``,
``decoder_feat_head`` -> ``decoder.pred``, ``mask_token_emb`` -> ``decoder.mask_token``, the
decoder position embeddings like the encoder's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from skelkit.config import resolve_config
from skelkit.errors import DataError
from skelkit.registry import get_registries
from skelkit.train.checkpoint import header
from skelkit.weights import (
    count_blocks,
    guess_dataset,
    load_untrusted,
    override,
    plain_record,
    strip_prefixes,
)

WRAPPERS = ("module.", "_orig_mod.")
BLOCK_RENAMES = (
    ("attn.queries.", "attn.q."),
    ("attn.keys.", "attn.k."),
    ("attn.values.", "attn.v."),
)


def official_state(data: Mapping[str, Any], source: str) -> dict[str, Tensor]:
    """The state dict of an authors' checkpoint (``model.sd``), wrappers stripped."""
    model = data.get("model")
    state = model.get("sd") if isinstance(model, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise DataError(
            f"'{source}' has no ['model']['sd'] state dict; is it a Skeleton2vec checkpoint?"
        )
    clean = strip_prefixes(state, WRAPPERS)
    bad = [key for key, value in clean.items() if not isinstance(value, Tensor)]
    if bad:
        raise DataError(f"'{source}': state entry '{bad[0]}' is not a tensor.")
    return clean


def map_encoder(state: Mapping[str, Tensor], prefix: str, out: str) -> dict[str, Tensor]:
    """Rename the authors' ``SkTWithDecoder`` encoder under ``prefix`` to skelkit's ``out``."""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if rest.startswith("encoder_embedding.projection.1."):
            mapped[f"{out}joints_embed.proj.{rest.rsplit('.', 1)[1]}"] = value
        elif rest == "encoder_embedding.spatio_pos_emb":
            mapped[f"{out}pos_embed"] = value.permute(0, 2, 3, 1).contiguous()
        elif rest == "encoder_embedding.temporal_pos_emb":
            mapped[f"{out}temp_embed"] = value.permute(0, 2, 3, 1).contiguous()
        elif rest.startswith("encoder.layers."):
            mapped[f"{out}blocks.{_block_key(rest[len('encoder.layers.') :])}"] = value
        elif rest.startswith("encoder_norm."):
            mapped[f"{out}norm.{rest[len('encoder_norm.') :]}"] = value
    return mapped


def map_decoder(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Rename the authors' decoder under ``prefix`` to the ``masked`` method's ``decoder.*``."""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if rest.startswith("decoder_embedding."):
            mapped[f"decoder.embed.{rest.rsplit('.', 1)[1]}"] = value
        elif rest.startswith("decoder.layers."):
            mapped[f"decoder.blocks.{_block_key(rest[len('decoder.layers.') :])}"] = value
        elif rest.startswith("decoder_norm."):
            mapped[f"decoder.norm.{rest.rsplit('.', 1)[1]}"] = value
        elif rest.startswith("decoder_feat_head."):
            mapped[f"decoder.pred.{rest.rsplit('.', 1)[1]}"] = value
        elif rest == "decoder_spatio_pos_emb":
            mapped["decoder.pos_embed"] = value.permute(0, 2, 3, 1).contiguous()
        elif rest == "decoder_temporal_pos_emb":
            mapped["decoder.temp_embed"] = value.permute(0, 2, 3, 1).contiguous()
        elif rest == "mask_token_emb":
            mapped["decoder.mask_token"] = value
    return mapped


def _block_key(rest: str) -> str:
    for old, new in BLOCK_RENAMES:
        rest = rest.replace(old, new)
    return rest


def model_args(data: Mapping[str, Any]) -> dict[str, Any]:
    """The autoencoder's constructor arguments and the teacher settings, from the spec."""
    model = data.get("model")
    args = model.get("args") if isinstance(model, Mapping) else None
    if not isinstance(args, Mapping):
        return {}
    spec = args.get("model_spec")
    inner = spec.get("args") if isinstance(spec, Mapping) else None
    encoder_spec = args.get("encoder_spec")
    if not isinstance(inner, Mapping) and isinstance(encoder_spec, Mapping):
        inner = encoder_spec.get("args")
    merged = dict(inner) if isinstance(inner, Mapping) else {}
    for key in ("average_top_k_layers", "norm_target_per_layer", "normalize_targets"):
        if key in args:
            merged[key] = args[key]
    ema = args.get("ema_spec")
    if isinstance(ema, Mapping) and isinstance(ema.get("args"), Mapping):
        merged.update({f"ema_{k}": v for k, v in ema["args"].items()})
    return merged


def config_overrides(
    state: Mapping[str, Tensor], prefix: str, args: Mapping[str, Any], pretrain: bool
) -> list[str]:
    """``--set`` overrides of the ``skeleton2vec`` preset that describe this checkpoint."""
    proj = state[f"{prefix}encoder_embedding.projection.1.weight"]
    dim, channels, segment = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    temporal = state[f"{prefix}encoder_embedding.temporal_pos_emb"]
    spatial = state[f"{prefix}encoder_embedding.spatio_pos_emb"]
    fc1 = state[f"{prefix}encoder.layers.0.mlp.fc1.weight"]
    sets: dict[str, Any] = {
        "encoder.dim": dim,
        "encoder.in_channels": channels,
        "encoder.segment_length": segment,
        "encoder.num_frames": int(temporal.shape[2]) * segment,
        "encoder.num_joints": int(spatial.shape[3]),
        "encoder.depth": count_blocks(state, f"{prefix}encoder.layers."),
        "encoder.mlp_ratio": float(fc1.shape[0] / dim),
        "encoder.num_heads": int(args.get("num_heads", 8)),
        "encoder.layer_scale": _layer_scale(state, f"{prefix}encoder.layers.0."),
    }
    decoder_depth = count_blocks(state, f"{prefix}decoder.layers.")
    if pretrain and decoder_depth:
        sets["method.decoder_depth"] = decoder_depth
        sets["method.decoder_dim"] = int(state[f"{prefix}decoder_embedding.weight"].shape[0])
        sets["method.decoder_heads"] = int(args.get("num_heads", 8))
        sets["method.decoder_layer_scale"] = _layer_scale(state, f"{prefix}decoder.layers.0.")
    if "average_top_k_layers" in args:
        sets["target.top_k"] = int(args["average_top_k_layers"])
    if "norm_target_per_layer" in args:
        sets["target.layer_norm"] = str(args["norm_target_per_layer"])
    if "normalize_targets" in args:
        sets["target.final_norm"] = bool(args["normalize_targets"])
    for ours, theirs in (("ema_start", "ema_ema_decay"), ("ema_end", "ema_ema_end_decay")):
        if theirs in args:
            sets[f"target.{ours}"] = float(args[theirs])
    if "ema_ema_anneal_end_step" in args:
        sets["target.ema_steps"] = int(args["ema_ema_anneal_end_step"])
    strategy = args.get("mask_strategy")
    if strategy == "random":
        sets["masker.name"] = "random"
    elif strategy == "tube":
        sets["masker.beta"] = 0.0
    if not pretrain:
        sets["target.downstream"] = "student"
    return [override(key, value) for key, value in sets.items()]


def _layer_scale(state: Mapping[str, Tensor], block: str) -> float:
    """LayerScale switch of a block: the ``encoder.layer_scale`` value that creates ``gamma``.

    Any positive value creates the parameters, whose loaded values replace it.
    """
    return 1e-4 if f"{block}gamma_1" in state else 0.0


def import_skeleton2vec_checkpoint(path: str | Path) -> dict[str, Any]:
    """Convert an authors' Skeleton2vec checkpoint file into a skelkit checkpoint dict."""
    source = Path(path)
    data = load_untrusted(source, paper="Skeleton2vec", weights_entry="['model']['sd'] state dict")
    state = official_state(data, str(source))
    if "auto_encoder.encoder_embedding.projection.1.weight" in state:
        pretrain, prefix = True, "auto_encoder."
    elif "encoder.encoder_embedding.projection.1.weight" in state:
        pretrain, prefix = False, "encoder."
    else:
        raise DataError(
            f"'{source}' is not a Skeleton2vec transformer checkpoint (no "
            "'auto_encoder.encoder_embedding' or 'encoder.encoder_embedding' weights); choose "
            "the importer of the paper that produced it."
        )
    args = model_args(data)
    model = map_encoder(state, prefix, "encoder.")
    if pretrain:
        model.update(map_decoder(state, prefix))
        teacher = map_encoder(state, "ema.model.", "target.teacher.")
        if not teacher:
            raise DataError(f"'{source}' has no EMA teacher ('ema.model.*'); it is damaged.")
        model.update(teacher)
    # The authors keep runs in folders named after the dataset (checkpoints/ntu60_xsub/).
    dataset = guess_dataset(source.resolve().as_posix())
    config = resolve_config(
        get_registries(),
        preset="skeleton2vec",
        dataset=dataset,
        overrides=config_overrides(state, prefix, args, pretrain),
    )
    epoch = data.get("epoch")
    return {
        "skelkit": header("imported"),
        "config": config,
        "model": model,
        "dataset": dataset,
        "recipe": "pyskl",
        "epoch": int(epoch) if isinstance(epoch, int) else 0,
        "step": 0,
        "source": {
            "importer": "skeleton2vec",
            "file": source.name,
            "official_args": {str(k): plain_record(v) for k, v in args.items()},
        },
    }
