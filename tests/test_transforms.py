"""MAMP's transforms against a plain-NumPy re-derivation of the reference feeder.

The reference (CTR-GCN / MAMP ``feeders/tools.py``: ``valid_crop_resize`` and
``random_rot``) is re-derived below from its description, with its random draws replaced by
explicit arguments so that both sides see the same crop and angles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skelkit.data.transforms import NUM_DRAWS, CropResize, mamp_test, mamp_train
from skelkit.errors import ConfigError

# -- the reference, re-derived ---------------------------------------------------------------


def ref_crop_resize(
    data: np.ndarray,
    valid: int,
    p_interval: tuple[float, ...],
    window: int,
    u_ratio: float = 0.0,
    u_offset: float = 0.0,
) -> np.ndarray:
    """valid_crop_resize on (C, T, V, M); the train draws are given as uniforms."""
    c, _, v, m = data.shape
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * valid / 2)
        crop = data[:, bias : valid - bias]
    else:
        p = u_ratio * (p_interval[1] - p_interval[0]) + p_interval[0]
        length = int(np.minimum(np.maximum(int(np.floor(valid * p)), 64), valid))
        bias = int(np.floor(u_offset * (valid - length + 1)))  # randint(0, valid - length + 1)
        crop = data[:, bias : bias + length]
    size = crop.shape[1]
    flat = crop.transpose(0, 2, 3, 1).reshape(c * v * m, size).astype(np.float64)
    out = np.empty((c * v * m, window), dtype=np.float64)
    # Bilinear, align_corners=False, identity along the other axis. As in torch's kernel for
    # float32 input, the scale is float32 and the source position scale * (j + 0.5) - 0.5 is
    # rounded once to float32 (fused multiply-add). Exact float64 positions would differ
    # from the reference by up to ~1e-5 on long sequences.
    scale = float(np.float32(size) / np.float32(window))
    for j in range(window):
        src = max(np.float32(scale * (j + 0.5) - 0.5), np.float32(0.0))
        lo = math.floor(src)
        hi = min(lo + 1, size - 1)
        lam = float(src - np.float32(lo))
        out[:, j] = (1 - lam) * flat[:, lo] + lam * flat[:, hi]
    return out.reshape(c, v, m, window).transpose(0, 3, 1, 2).astype(np.float32)


def ref_rotate(data: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """random_rot on (C, T, V, M) with the angles (x, y, z) given."""
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    c, t, v, m = data.shape
    out = np.empty((c, t, v, m), dtype=np.float64)
    for frame in range(t):
        out[:, frame] = (rot @ data[:, frame].reshape(c, v * m)).reshape(c, v, m)
    return out.astype(np.float32)


def padded_sample(rng: np.random.Generator, valid: int, total: int = 300) -> np.ndarray:
    data = np.zeros((3, total, 25, 2), dtype=np.float32)
    data[:, :valid] = rng.uniform(-1.5, 1.5, size=(3, valid, 25, 2)).astype(np.float32)
    return data


LENGTHS = [1, 2, 7, 40, 63, 64, 65, 100, 119, 120, 121, 257, 300]

# -- tests -----------------------------------------------------------------------------------


def test_rederived_resize_matches_torch_interpolate() -> None:
    rng = np.random.default_rng(0)
    for size, window in [(37, 120), (120, 120), (300, 120), (5, 64)]:
        data = rng.standard_normal((3, size, 25, 2)).astype(np.float32)
        flat = torch.from_numpy(data).permute(0, 2, 3, 1).reshape(1, 1, 150, size)
        expected = F.interpolate(flat, size=(150, window), mode="bilinear", align_corners=False)
        expected = expected.reshape(3, 25, 2, window).permute(0, 3, 1, 2).numpy()
        got = ref_crop_resize(data, size, (1.0,), window)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("valid", LENGTHS)
def test_test_transform_equals_reference(valid: int) -> None:
    data = padded_sample(np.random.default_rng(valid), valid)
    transform = mamp_test()
    got = transform(data[:, :valid])
    expected = ref_crop_resize(data, valid, (0.95,), 120)
    assert got.shape == (3, 120, 25, 2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


def test_train_transform_equals_reference_crop_resize_rotate() -> None:
    rng = np.random.default_rng(1)
    transform = mamp_train()
    for trial in range(60):
        valid = LENGTHS[trial % len(LENGTHS)]
        data = padded_sample(rng, valid)
        draws = rng.random(NUM_DRAWS)
        got = transform(data[:, :valid], draws=draws)
        angles = (draws[2:5] * 2 - 1) * 0.3
        expected = ref_rotate(ref_crop_resize(data, valid, (0.5, 1.0), 120, *draws[:2]), angles)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


def test_train_crop_lengths_follow_the_reference_bounds() -> None:
    transform = CropResize(window=120, p_interval=(0.5, 1.0), min_frames=64)
    rng = np.random.default_rng(2)
    for valid in (10, 64, 100, 300):
        # Frame t holds the value t, so the output's range shows which frames were kept.
        data = np.broadcast_to(
            np.arange(valid, dtype=np.float32)[None, :, None, None], (3, valid, 25, 2)
        ).copy()
        spans = []
        for _ in range(200):
            out = transform(data, rng)
            spans.append(out.max() - out.min())
        lowest = min(max(math.floor(valid * 0.5), 64), valid) - 1
        assert min(spans) >= lowest * (1 - 1e-2) - 1
        assert max(spans) <= valid - 1 + 1e-4


def test_rotation_preserves_norms_and_stays_within_angle() -> None:
    transform = CropResize(window=50, p_interval=(1.0,), rotation=0.3)
    data = np.random.default_rng(3).standard_normal((3, 50, 25, 2)).astype(np.float32)
    out = transform(data, np.random.default_rng(4))
    np.testing.assert_allclose(
        np.linalg.norm(out, axis=0), np.linalg.norm(data, axis=0), rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(out, data)


def test_same_rng_same_output_and_random_needs_rng() -> None:
    transform = mamp_train()
    data = np.random.default_rng(5).standard_normal((3, 90, 25, 2)).astype(np.float32)
    a = transform(data, np.random.default_rng(7))
    b = transform(data, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="rng"):
        transform(data)


def _padded_batch(lengths: list[int]) -> tuple[np.ndarray, torch.Tensor]:
    rng = np.random.default_rng(8)
    x = np.stack([padded_sample(rng, n) for n in lengths])
    return x, torch.tensor(lengths)


@pytest.mark.parametrize("transform", [mamp_train(), mamp_test(), mamp_train(window=64)])
def test_batched_equals_per_sample_for_the_same_draws(transform: CropResize) -> None:
    lengths = [1, 30, 64, 65, 150, 299, 300]
    x, lens = _padded_batch(lengths)
    draws = np.random.default_rng(9).random((len(lengths), NUM_DRAWS))
    got, new_lengths = transform.batch(torch.from_numpy(x), lens, draws=torch.from_numpy(draws))
    assert got.shape == (len(lengths), 3, transform.window, 25, 2)
    assert new_lengths.tolist() == [transform.window] * len(lengths)
    for i, n in enumerate(lengths):
        expected = transform(x[i, :, :n], draws=draws[i])
        np.testing.assert_allclose(got[i].numpy(), expected, atol=1e-5, rtol=0)


def test_batched_test_transform_is_deterministic_and_matches_reference() -> None:
    lengths = [3, 64, 111, 300]
    x, lens = _padded_batch(lengths)
    got, _ = mamp_test().batch(torch.from_numpy(x), lens)
    for i, n in enumerate(lengths):
        expected = ref_crop_resize(x[i], n, (0.95,), 120)
        np.testing.assert_allclose(got[i].numpy(), expected, atol=1e-6, rtol=0)


def test_batched_generator_reproducible_and_varies() -> None:
    x, lens = _padded_batch([80, 200, 300, 120])
    xt = torch.from_numpy(x)
    transform = mamp_train()
    a, _ = transform.batch(xt, lens, generator=torch.Generator().manual_seed(3))
    b, _ = transform.batch(xt, lens, generator=torch.Generator().manual_seed(3))
    c, _ = transform.batch(xt, lens, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_batched_rejects_bad_lengths() -> None:
    x, _ = _padded_batch([10, 20])
    with pytest.raises(ValueError, match="lengths"):
        mamp_test().batch(torch.from_numpy(x), torch.tensor([0, 20]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batched_on_cuda_matches_cpu() -> None:
    x, lens = _padded_batch([70, 300, 5])
    draws = torch.rand((3, NUM_DRAWS), dtype=torch.float64)
    transform = mamp_train()
    cpu, _ = transform.batch(torch.from_numpy(x), lens, draws=draws)
    gpu, _ = transform.batch(torch.from_numpy(x).cuda(), lens.cuda(), draws=draws.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
    generator = torch.Generator(device="cuda").manual_seed(0)
    out, _ = transform.batch(torch.from_numpy(x).cuda(), lens.cuda(), generator=generator)
    assert out.device.type == "cuda"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window"),
        ({"p_interval": (0.0, 1.0)}, "ratios"),
        ({"p_interval": (0.9, 0.5)}, "increasing"),
        ({"rotation": -1.0}, "rotation"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CropResize(**kwargs)  # type: ignore[arg-type]


def test_registered_components_build_from_config() -> None:
    from skelkit.registry import get_registries

    registries = get_registries()
    train = registries.build("train_transform", {"name": "mamp_train"})
    test = registries.build("test_transform", {"name": "mamp_test", "window": 64})
    assert train == CropResize(window=120, p_interval=(0.5, 1.0), min_frames=64, rotation=0.3)
    assert test == CropResize(window=64, p_interval=(0.95,), rotation=0.0)
