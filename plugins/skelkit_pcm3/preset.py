"""The ``pcm3`` preset: PCM3's official pretraining recipe (joint stream). Plain data only.

Values are the official README command's and the argparse defaults of
``pretrain_moco_mask.py``: 64-frame views, GRU 3 x 1024, MoCo queue 16384 with momentum
0.999 and temperature 0.07, KL temperatures 0.05 / 0.1 with weight 1, reconstruction
weight 40, body-part masking of 3 of 5 parts per 8-frame chunk; SGD momentum 0.9, weight
decay 1e-4 on every parameter, lr 0.02 multiplied by 0.1 at epoch 351, 451 epochs, batch
128. The motion and bone streams are the same recipe with ``--set encoder.stream=motion``
(or ``bone``), which also selects the official prompt-free variant.
"""

from __future__ import annotations

from typing import Any

from skelkit import PresetSpec

WINDOW = 64

CONFIG: dict[str, Any] = {
    "method": {
        "name": "pcm3",
        "dim": 128,
        "queue_size": 16384,
        "momentum": 0.999,
        "teacher_temperature": 0.05,
        "student_temperature": 0.1,
        "kl_weight": 1.0,
        "rec_weight": 40.0,
        "decoder_dim": 512,
        "decoder_layers": 2,
        "prompt_size": 128,
        "variant": "auto",
    },
    "encoder": {"name": "gru", "hidden_size": 1024, "num_layers": 3, "stream": "joint"},
    "masker": {"name": "body_parts", "parts": 3, "chunks": 8},
    "loss": {"name": "infonce", "temperature": 0.07},
    "train_transform": {
        "name": "pcm3_views",
        "window": WINDOW,
        "min_ratio": 0.1,
        "max_ratio": 1.0,
        "min_frames": 64,
    },
    "test_transform": {"name": "pcm3_test", "window": WINDOW, "ratio": 0.95},
    "train": {
        "epochs": 451,
        "batch_size": 128,
        "optimizer": "sgd",
        "lr": 0.02,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 1e-4,
        "no_decay_1d": False,
        "warmup_epochs": 0.0,
        "schedule": "step",
        "milestones": [351],
        "gamma": 0.1,
        "clip_grad": None,
        "save_every": 100,
    },
}

PCM3_PRESET = PresetSpec(
    name="pcm3",
    config=CONFIG,
    summary="PCM3 (ACM MM 2023): MoCo + masked motion modeling + prompts, GRU, 451 epochs",
    recipe="agcn",
)
