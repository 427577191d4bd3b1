"""PCM3's transforms: three views per sample, per sample (NumPy) and batched (torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skelkit.errors import ConfigError
from skelkit.registry import get_registries
from skelkit_pcm3.views import ThreeViews, pcm3_views


def build(section: str, **values: object) -> object:
    return get_registries().build(section, values)


def test_three_views_stacked_on_channels() -> None:
    transform = build("train_transform", name="pcm3_views")
    assert isinstance(transform, ThreeViews)
    x = np.random.default_rng(0).normal(size=(3, 90, 25, 2)).astype(np.float32)
    out = transform(x, np.random.default_rng(1))
    assert out.shape == (9, 64, 25, 2)
    assert out.dtype == np.float32
    again = transform(x, np.random.default_rng(1))
    assert np.array_equal(out, again)  # the draws come from the rng only
    assert not np.array_equal(out[:3], out[3:6])  # independent views


def test_third_view_is_always_a_shear_of_its_crop() -> None:
    transform = pcm3_views(min_ratio=1.0, max_ratio=1.0)  # whole sequence: a plain resize
    x = np.random.default_rng(2).normal(size=(3, 64, 25, 2)).astype(np.float32)
    for seed in range(5):
        view = transform._view(x, np.random.default_rng(seed), corruption=0.0)
        # A shear S x with unit diagonal: solve S from three joints' coordinates.
        a = x.reshape(3, -1)
        b = view.reshape(3, -1)
        s, *_ = np.linalg.lstsq(a.T.astype(np.float64), b.T.astype(np.float64), rcond=None)
        shear = s.T
        np.testing.assert_allclose(np.diag(shear), 1.0, atol=1e-4)
        assert np.abs(shear - np.eye(3)).max() <= 1.0 + 1e-4


def test_joint_corruption_touches_15_joints() -> None:
    transform = pcm3_views(min_ratio=1.0, max_ratio=1.0)
    x = np.random.default_rng(3).normal(size=(3, 64, 25, 2)).astype(np.float32) + 5.0
    zeroed = 0
    for seed in range(20):
        view = transform._view(x, np.random.default_rng(seed), corruption=1.0)
        changed = np.any(view != x, axis=(0, 1, 3))
        assert changed.sum() == 15
        zeroed += int(np.all(view[:, :, changed] == 0))
    assert 3 <= zeroed <= 17  # zeroed or multiplied, half and half


def test_batched_views_match_the_per_sample_distribution() -> None:
    transform = pcm3_views()
    x = torch.randn(64, 3, 100, 25, 2) + 3.0
    lengths = torch.randint(70, 101, (64,))
    out, new_lengths = transform.batch(x, lengths, generator=torch.Generator().manual_seed(0))
    assert out.shape == (64, 9, 64, 25, 2)
    assert new_lengths.tolist() == [64] * 64
    third = out[:, 6:9]
    zero_joints = (third == 0).all(dim=(1, 2, 4)).sum()
    assert zero_joints == 0  # view 3 is never corrupted
    first = out[:, 0:3]
    corrupted = (first == 0).all(dim=(1, 2, 4)).sum(dim=1)
    assert set(corrupted.unique().tolist()) <= {0, 15}


def test_test_and_linear_crops() -> None:
    test = build("test_transform", name="pcm3_test")
    x = np.arange(100, dtype=np.float32)[None, :, None, None].repeat(3, 0).repeat(25, 2)
    x = x.repeat(2, 3)
    out = test(x)
    assert out.shape == (3, 64, 25, 2)
    assert out[0, 0, 0, 0] >= 2.0  # int(0.025 * 100) frames dropped at each end
    linear = build("train_transform", name="pcm3_linear")
    assert linear(x, np.random.default_rng(0)).shape == (3, 64, 25, 2)


def test_bad_values() -> None:
    with pytest.raises(ConfigError, match="three probabilities"):
        pcm3_views(corruption=(0.5, 0.5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="joints"):
        pcm3_views(joints=30)
