"""The ``mamp`` preset: MAMP's pretraining recipe over the core ``masked`` method.

Values are the official configs' (ICCV 2023): the CTR-GCN feeder transforms (random
crop U(0.5, 1) of the valid frames, at least 64, resized to a 120-frame window, random
rotation up to 0.3 rad; test: centre 95% crop) and 4-frame segments,
8 x 256 encoder, mask ratio 0.9, motion-aware masking and the stride-1 motion target,
AdamW (0.9, 0.95) with weight decay 0.05, lr 1e-3 cosine to 5e-4 after 20 warmup epochs
of 400, global batch 128. Per dataset: decoder depth 3 and tau 0.80 on NTU-60, depth 5
and tau 0.75 on NTU-120, depth 5 and tau 0.80 on PKU-MMD I/II. Plain data only.
"""

from __future__ import annotations

from typing import Any

from skelkit import PresetSpec

WINDOW = 120

CONFIG: dict[str, Any] = {
    "method": {
        "name": "masked",
        "decoder_dim": 256,
        "decoder_depth": 3,
        "decoder_heads": 8,
        "decoder_mlp_ratio": 4.0,
        "decoder_norm_eps": 1e-5,
        "decoder_layer_scale": 0.0,
        "decoder_fused_qkv": True,
        "decoder_init": "xavier",
    },
    "encoder": {
        "name": "transformer",
        "num_frames": WINDOW,
        "num_joints": 25,
        "segment_length": 4,
        "dim": 256,
        "depth": 8,
        "num_heads": 8,
        "mlp_ratio": 4.0,
        "qkv_bias": True,
        "fused_qkv": True,
        "norm_eps": 1e-5,
        "layer_scale": 0.0,
        "drop_path": 0.0,
        "init": "xavier",
    },
    "masker": {"name": "motion_aware", "ratio": 0.9, "tau": 0.8},
    "target": {"name": "motion", "stride": 1, "normalize": True, "eps": 1e-6},
    "loss": {"name": "mse"},
    "train_transform": {
        "name": "mamp_train",
        "window": WINDOW,
        "min_ratio": 0.5,
        "max_ratio": 1.0,
        "min_frames": 64,
        "rotation": 0.3,
    },
    "test_transform": {"name": "mamp_test", "window": WINDOW, "ratio": 0.95},
    "train": {
        "epochs": 400,
        "batch_size": 128,
        "optimizer": "adamw",
        "lr": 1e-3,
        "min_lr": 5e-4,
        "betas": [0.9, 0.95],
        "weight_decay": 0.05,
        "warmup_epochs": 20.0,
        "schedule": "cosine",
        "clip_grad": None,
        "precision": "fp32",
        "save_every": 20,
    },
}

DATASETS: dict[str, dict[str, Any]] = {
    "ntu60": {"method": {"decoder_depth": 3}, "masker": {"tau": 0.8}},
    "ntu120": {"method": {"decoder_depth": 5}, "masker": {"tau": 0.75}},
    "pkummd1": {"method": {"decoder_depth": 5}, "masker": {"tau": 0.8}},
    "pkummd2": {"method": {"decoder_depth": 5}, "masker": {"tau": 0.8}},
}

MAMP_PRESET = PresetSpec(
    name="mamp",
    config=CONFIG,
    summary="MAMP (ICCV 2023): motion-aware masking, motion target, 400 epochs",
    datasets=DATASETS,
    recipe="ctrgcn",
)
