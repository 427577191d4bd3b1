"""PCM3's ``gru`` encoder against a plain-torch re-derivation of the official forward."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from skelkit.errors import ConfigError
from skelkit.registry import get_registries
from skelkit_pcm3.streams import to_bone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def official_gru_features(gru: nn.GRU, norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """The official BIGRU forward: flatten (V, C, M), input BN, one frame at a time through a
    bidirectional GRU with the hidden state carried over, output at the last frame."""
    n, c, t, v, m = x.shape
    flat = x.permute(0, 2, 3, 1, 4).reshape(n, t, v * c * m)
    h = norm(flat.permute(0, 2, 1)).permute(0, 2, 1)
    hidden = None
    outputs = []
    for i in range(t):
        out, hidden = gru(h[:, i : i + 1], hidden)
        outputs.append(out)
    return torch.cat(outputs, dim=1)[:, -1]


def load_official(encoder: nn.Module, gru: nn.GRU, norm: nn.BatchNorm1d) -> None:
    """Copy official-layout weights into the skelkit encoder (direction by direction)."""
    state = {f"input_norm.{k}": v for k, v in norm.state_dict().items()}
    for key, value in gru.state_dict().items():
        weight, layer = key.rsplit("_l", 1)
        direction = "reverse_gru" if layer.endswith("_reverse") else "forward_gru"
        state[f"layers.{layer.split('_')[0]}.{direction}.{weight}_l0"] = value
    encoder.load_state_dict(state)


def build(**values: object) -> nn.Module:
    return get_registries().build("encoder", {"name": "gru", **values})


def test_features_equal_the_official_step_by_step_bigru() -> None:
    torch.manual_seed(0)
    hidden = 24
    gru = nn.GRU(150, hidden, num_layers=3, bidirectional=True, batch_first=True)
    norm = nn.BatchNorm1d(150)
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    norm.weight.data.uniform_(0.5, 1.5)
    norm.bias.data.uniform_(-0.5, 0.5)
    norm.eval()
    encoder = build(hidden_size=hidden).eval()
    load_official(encoder, gru, norm)
    x = torch.randn(3, 3, 20, 25, 2)
    with torch.no_grad():
        expected = official_gru_features(gru, norm, x)
        got = encoder(x)
        full = gru(
            norm(x.permute(0, 2, 3, 1, 4).reshape(3, 20, 150).permute(0, 2, 1)).permute(0, 2, 1)
        )
    assert got.shape == (3, 2 * hidden) == (3, encoder.feature_dim)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # A true bidirectional GRU over the whole sequence is something else.
    assert (full[0][:, -1] - expected).abs().max() > 1e-3


def test_flatten_order_is_joint_coordinate_person() -> None:
    encoder = build(hidden_size=8)
    x = torch.zeros(1, 3, 2, 25, 2)
    x[0, 2, 1, 7, 1] = 1.0  # c=2, t=1, v=7, m=1
    flat = encoder.flatten(x)
    assert flat.shape == (1, 2, 150)
    assert torch.nonzero(flat).tolist() == [[0, 1, 7 * 6 + 2 * 2 + 1]]
    torch.testing.assert_close(encoder.unflatten(flat), x)


def test_xavier_init_of_every_gru_matrix_and_default_biases() -> None:
    torch.manual_seed(1)
    encoder = build(hidden_size=64, num_layers=2)
    for name, param in encoder.layers.named_parameters():
        if param.dim() == 2:
            fan_out, fan_in = param.shape
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert param.abs().max() <= bound
            assert param.abs().max() > 0.9 * bound, name
        else:
            assert param.abs().max() <= 1 / math.sqrt(64)
    assert torch.equal(encoder.input_norm.weight, torch.ones(150))
    assert len(encoder.layers) == 2
    assert encoder.layers[1].forward_gru.weight_ih_l0.shape == (192, 128)


def test_streams_convert_joint_input_inside_the_encoder() -> None:
    torch.manual_seed(2)
    joint = build(hidden_size=8).eval()
    motion = build(hidden_size=8, stream="motion").eval()
    bone = build(hidden_size=8, stream="bone").eval()
    motion.load_state_dict(joint.state_dict())
    bone.load_state_dict(joint.state_dict())
    x = torch.randn(2, 3, 6, 25, 2)
    diff = torch.zeros_like(x)
    diff[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    with torch.no_grad():
        torch.testing.assert_close(motion(x), joint(diff))
        b = bone.flatten(to_bone(x))
    # NTU joint 21 (spine shoulder) is its own parent; joint 1's parent is joint 2.
    assert torch.equal(b.reshape(2, 6, 25, 3, 2)[:, :, 20], torch.zeros(2, 6, 3, 2))
    bones = b.reshape(2, 6, 25, 3, 2)
    expected = (x[:, :, :, 0] - x[:, :, :, 1]).permute(0, 2, 1, 3)
    torch.testing.assert_close(bones[:, :, 0], expected)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"encoder\.stream"):
        build(stream="optical")
    with pytest.raises(ConfigError, match=r"encoder\.hidden_size"):
        build(hidden_size=0)
    encoder = build(hidden_size=8)
    with pytest.raises(ConfigError, match="does not match the gru encoder"):
        encoder(torch.zeros(1, 3, 4, 17, 2))
