"""The ``skeleton2vec`` preset: Skeleton2vec's pretraining over the core ``masked`` method.

Values are the authors' final configs (``pretrain_skt2vec2.yaml``, branch ``dev``):
pyskl data (PreNormalize3D without spine alignment, random rotation up to 0.3 rad, uniform
sampling of 90 frames), 3-frame segments (30 x 25 tokens), an 8 x 256 encoder with
separate q/k/v, LayerScale 1e-4, LayerNorm eps 1e-6 and trunc-normal init, a 3-block
256-d decoder with a 256-d feature head, motion-aware tube masking (ratio 0.9, tubes of
5 tokens, beta 0.1; 0.2 on NTU-120), the contextual EMA-teacher target (all 8 blocks,
instance norm, final layer norm, rate 0.9999 -> 1.0 over the run's steps), MSE on the
masked tokens; AdamW (0.9, 0.95), weight decay 0.05 (not on biases, 1-D parameters and
positional embeddings), lr 1e-3, 20 warmup epochs, cosine to 1e-5 over 800 epochs,
gradient-norm clipping 4.0, global batch 128. The authors trained with fp16 AMP; the preset
keeps fp32 so that it runs anywhere (``--precision bf16`` or ``fp16`` on a GPU). Known
differences left out on purpose: the authors' encoder temporal embedding starts at zero (a
double-initialisation slip), here both position embeddings are trunc-normal; and their
decoder placement quirk is available as ``masker.decoder_order=official``. Plain data only.
"""

from __future__ import annotations

from typing import Any

from skelkit import PresetSpec

WINDOW = 90

CONFIG: dict[str, Any] = {
    "method": {
        "name": "masked",
        "decoder_dim": 256,
        "decoder_depth": 3,
        "decoder_heads": 8,
        "decoder_mlp_ratio": 4.0,
        "decoder_norm_eps": 1e-6,
        "decoder_layer_scale": 1e-4,
        "decoder_fused_qkv": False,
        "decoder_init": "trunc_normal",
    },
    "encoder": {
        "name": "transformer",
        "num_frames": WINDOW,
        "num_joints": 25,
        "segment_length": 3,
        "dim": 256,
        "depth": 8,
        "num_heads": 8,
        "mlp_ratio": 4.0,
        "qkv_bias": True,
        "fused_qkv": False,
        "norm_eps": 1e-6,
        "layer_scale": 1e-4,
        "drop_path": 0.0,
        "init": "trunc_normal",
    },
    "masker": {
        "name": "tube",
        "ratio": 0.9,
        "tube_len": 5,
        "beta": 0.1,
        "decoder_order": "correct",
    },
    "target": {
        "name": "contextual",
        "top_k": 8,
        "layer_norm": "instance_norm",
        "final_norm": True,
        "ema_start": 0.9999,
        "ema_end": 1.0,
        "ema_steps": 0,
        "downstream": "teacher",
    },
    "loss": {"name": "mse"},
    "train_transform": {
        "name": "pyskl_train",
        "window": WINDOW,
        "rotation": 0.3,
        "align_spine": False,
    },
    "test_transform": {"name": "pyskl_test", "window": WINDOW, "align_spine": False},
    "train": {
        "epochs": 800,
        "batch_size": 128,
        "optimizer": "adamw",
        "lr": 1e-3,
        "min_lr": 1e-5,
        "betas": [0.9, 0.95],
        "weight_decay": 0.05,
        "no_weight_decay": [
            "encoder.temp_embed",
            "encoder.pos_embed",
            "decoder.temp_embed",
            "decoder.pos_embed",
        ],
        "warmup_epochs": 20.0,
        "schedule": "cosine",
        "clip_grad": 4.0,
        "precision": "fp32",
        "save_every": 100,
    },
}

DATASETS: dict[str, dict[str, Any]] = {
    "ntu60": {"masker": {"beta": 0.1}},
    "ntu120": {"masker": {"beta": 0.2}},
    "pkummd1": {"masker": {"beta": 0.1}},
    "pkummd2": {"masker": {"beta": 0.1}},
}

SKELETON2VEC_PRESET = PresetSpec(
    name="skeleton2vec",
    config=CONFIG,
    summary="Skeleton2vec (2024): tube masking, EMA-teacher contextual target, 800 epochs",
    datasets=DATASETS,
    recipe="pyskl",
)
