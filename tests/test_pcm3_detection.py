"""PCM3's detection protocol: proposals, PKU-MMD mAP semantics, and ``skelkit detect``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.data.preprocess import load_dataset
from skelkit.data.synth import synthesize
from skelkit.errors import ConfigError, DataError
from skelkit.train.checkpoint import save_checkpoint
from skelkit_pcm3.detection import (
    evaluate_probabilities,
    frame_targets,
    ground_truth,
    window_frames,
)
from skelkit_pcm3.detection_metrics import (
    Interval,
    average_precision,
    detection_map,
    segments_from_scores,
    smooth,
)
from skelkit_pcm3.detection_settings import DetectionSettings
from skelkit_pcm3.importer import import_pcm3_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()


@pytest.fixture(scope="module")
def pku(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("pku1")
    synthesize("pkummd1", raw, samples=24, classes=3, seed=1)
    return raw


def videos(raw: Path) -> list[object]:
    info = load_dataset("pkummd1")
    return [info.read_untrimmed(source) for source in info.discover([raw])]


def one_hot(sequence: object, classes: int) -> np.ndarray:
    targets = frame_targets(sequence)
    probs = np.zeros((len(targets), classes + 1))
    probs[np.arange(len(targets)), targets] = 1.0
    return probs


def test_perfect_frame_predictions_score_one(pku: Path) -> None:
    test = videos(pku)
    assert sum(len(ground_truth(seq)) for seq in test) >= 10
    probabilities = {seq.video: one_hot(seq, 51) for seq in test}
    metrics = evaluate_probabilities(probabilities, test, DetectionSettings())
    assert metrics["map_actions"] == pytest.approx(1.0)
    assert metrics["map_videos"] == pytest.approx(1.0)
    # A wrong class everywhere scores 0.
    shifted = {
        v: np.concatenate([p[:, :1], np.roll(p[:, 1:], 1, axis=1)], axis=1)
        for v, p in probabilities.items()
    }
    assert evaluate_probabilities(shifted, test, DetectionSettings())["map_actions"] == 0.0


def test_official_ap_semantics() -> None:
    truth = [Interval(3, 0, 100, video="v")]
    hit = Interval(3, 0, 100, 0.9, "v")
    assert average_precision([hit], truth) == 1.0
    # A false positive halves AP whatever its confidence (precision at the match is 1/2).
    for conf in (0.5, 0.95):
        assert average_precision([hit, Interval(3, 200, 300, conf, "v")], truth) == 0.5
    # A ground truth matched twice counts once (the less confident duplicate goes first).
    assert average_precision([hit, Interval(3, 5, 100, 0.8, "v")], truth) == 1.0
    # Overlap ratio (min end - max start) / (max end - min start) must reach 0.5.
    assert average_precision([Interval(3, 50, 150, 0.9, "v")], truth) == 0.0  # 50 / 150
    assert average_precision([Interval(3, 0, 200, 0.9, "v")], truth) == 1.0  # 100 / 200
    assert average_precision([Interval(4, 0, 100, 0.9, "v")], truth) == 0.0  # other class
    assert average_precision([Interval(3, 0, 100, 0.9, "w")], truth) == 0.0  # other video


def test_map_over_actions_and_videos() -> None:
    ground = {
        "a": [Interval(1, 0, 50, video="a"), Interval(2, 100, 150, video="a")],
        "b": [Interval(1, 0, 80, video="b")],
    }
    proposals = {"a": [Interval(1, 0, 50, 0.9, "a")], "b": [Interval(1, 0, 80, 0.7, "b")]}
    metrics = detection_map(proposals, ground)
    # Class 1: both found (AP 1); class 2: missed (AP 0). Video a: 1 of 2; video b: 1.
    assert metrics["map_actions"] == pytest.approx(0.5)
    assert metrics["map_videos"] == pytest.approx(0.75)
    assert (metrics["classes"], metrics["videos"]) == (2, 2)


def test_smoothing_and_segments() -> None:
    scores = np.zeros((40, 3))
    scores[:, 0] = 1.0
    scores[10:25] = [0.1, 0.2, 0.7]
    proposals = segments_from_scores(smooth(scores, 2), threshold=0.4, video="v")
    assert len(proposals) == 1
    assert proposals[0].label == 2
    assert abs(proposals[0].start - 10) <= 2
    assert abs(proposals[0].end - 25) <= 2
    np.testing.assert_allclose(smooth(scores, 2)[20], scores[18:22].mean(axis=0))


def test_windows_are_clamped_inside_the_video() -> None:
    assert window_frames(200, 0, 16, 4).tolist() == list(range(0, 64, 4))
    assert window_frames(200, 199, 16, 4).tolist() == list(range(136, 200, 4))
    assert window_frames(200, 100, 16, 4).tolist() == list(range(68, 132, 4))
    with pytest.raises(DataError, match="shorter than one detection window"):
        window_frames(40, 10, 16, 4)


def tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    gru = torch.nn.GRU(150, 8, num_layers=3, bidirectional=True, batch_first=True)
    state = {f"encoder_q.encoder.gru.{k}": v for k, v in gru.state_dict().items()}
    norm = torch.nn.BatchNorm1d(150)
    state.update({f"encoder_q.input_norm.{k}": v for k, v in norm.state_dict().items()})
    official = path.with_suffix(".pth.tar")
    torch.save({"epoch": 1, "state_dict": state}, official)
    save_checkpoint(path, import_pcm3_checkpoint(official))
    return path


def test_detect_command_end_to_end(pku: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    sets = ["protocol.epochs=2", "protocol.samples_per_video=4", "protocol.batch_size=8"]
    args = ["detect", "-k", str(ckpt), "--raw", str(pku), "-o", str(tmp_path / "det"), "--json"]
    args += [a for item in sets for a in ("--set", item)]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert 0.0 <= metrics["map_actions"] <= 1.0
    assert 0.0 <= metrics["map_videos"] <= 1.0
    assert metrics["videos"] >= 1
    assert metrics["train_videos"] >= 1
    assert json.loads((tmp_path / "det" / "detection.json").read_text())["videos"] >= 1


def test_bad_detection_settings() -> None:
    with pytest.raises(ConfigError, match=r"protocol\.windw"):
        DetectionSettings.from_overrides({"windw": 8})
    with pytest.raises(ConfigError, match="strides"):
        DetectionSettings(strides=(5, 3))


def test_evaluate_detection_end_to_end(pku: Path, tmp_path: Path) -> None:
    """``skelkit evaluate detection`` reads the untrimmed videos from protocol.raw; --data
    (the preprocessed store) names the dataset and checks the split."""
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    store = tmp_path / "pku1.h5"
    prep = runner.invoke(
        get_app(), ["preprocess", "pkummd1", "--raw", str(pku), "--out", str(store)]
    )
    assert prep.exit_code == 0, prep.output
    sets = [f"protocol.raw={pku}", "epochs=2", "samples_per_video=4", "batch_size=8"]
    args = ["evaluate", "detection", "-k", str(ckpt), "--data", str(store), "--split", "xsub"]
    args += ["-o", str(tmp_path / "det"), "--device", "cpu", "--json"]
    args += [a for item in sets for a in ("--set", item)]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["protocol"] == "detection"
    assert metrics["dataset"] == "pkummd1"
    assert 0.0 <= metrics["map_actions"] <= 1.0
    assert metrics["videos"] >= 1
    assert metrics["train_videos"] >= 1
    assert metrics["pretrained_on"]["method"] == "pcm3"
    written = json.loads((tmp_path / "det" / "metrics.json").read_text())
    assert written["map_videos"] == metrics["map_videos"]
    assert "raw:" in (tmp_path / "det" / "config.yaml").read_text()
    # the same settings through `skelkit detect` give the same numbers
    detect = ["detect", "-k", str(ckpt), "--raw", str(pku), "-o", str(tmp_path / "d2"), "--json"]
    detect += [a for item in sets[1:] for a in ("--set", item)]
    again = runner.invoke(get_app(), detect)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["map_actions"] == metrics["map_actions"]


def test_evaluate_detection_needs_the_raw_videos(pku: Path, tmp_path: Path) -> None:
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    args = ["evaluate", "detection", "-k", str(ckpt), "--split", "xsub", "-o", str(tmp_path / "d")]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 2
    assert "protocol.raw=DIR" in result.output
    assert "Traceback" not in result.output
    resumed = runner.invoke(get_app(), [*args, "--set", f"raw={pku}", "--resume"])
    assert resumed.exit_code == 2
    assert "can not be resumed" in resumed.output
