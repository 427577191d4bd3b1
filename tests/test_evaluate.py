"""Evaluation protocols end to end on a tiny store with a tiny pretrained encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from tests.engine_utils import TINY_MODEL, make_store

WINDOW = 32
PRETRAIN = (
    *TINY_MODEL,
    "train.epochs=1",
    "train.batch_size=8",
    "train.device=cpu",
    "train_transform.name=mamp_train",
    f"train_transform.window={WINDOW}",
    "test_transform.name=mamp_test",
    f"test_transform.window={WINDOW}",
    f"encoder.num_frames={WINDOW}",
)
FAST = ("num_workers=0",)


def invoke(*args: str) -> Any:
    """Run the CLI; show its output when it fails."""
    result = CliRunner().invoke(get_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def sets(*items: str) -> list[str]:
    """``--set`` options."""
    out: list[str] = []
    for item in items:
        out += ["--set", item]
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store (4 classes, 24 train / 12 test) and a MAMP-like checkpoint pretrained 1 epoch."""
    root = tmp_path_factory.mktemp("eval")
    store = make_store(root / "ntu60.h5", train=24, test=12)
    result = invoke(
        "pretrain", "--data", str(store), "--split", "xsub", "--out", str(root / "pre"),
        *sets(*PRETRAIN),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"root": root, "store": store, "ckpt": root / "pre" / "checkpoints" / "last.pt"}


def run_eval(setup: dict[str, Path], protocol: str, out: Path, *items: str, **kw: Any) -> Any:
    """``skelkit evaluate PROTOCOL`` on the fixture's store and checkpoint."""
    data = kw.get("data", setup["store"])
    if protocol != "knn":
        items = ("eval_batch_size=5", *items)
    return invoke(
        "evaluate", protocol, "--checkpoint", str(kw.get("ckpt", setup["ckpt"])),
        "--data", str(data), "--split", "xsub", "--out", str(out), "--device", "cpu",
        *sets(*FAST, *items), *kw.get("extra", ()),
    )  # fmt: skip


def metrics_of(out: Path) -> dict[str, Any]:
    """The report of an evaluation folder."""
    return json.loads((out / "metrics.json").read_text())


def test_linear_probe_end_to_end(setup: dict[str, Path]) -> None:
    out = setup["root"] / "linear"
    result = run_eval(setup, "linear", out, "epochs=3", "batch_size=8")
    assert result.exit_code == 0, result.output
    m = metrics_of(out)
    assert m["protocol"] == "linear"
    assert m["dataset"] == "ntu60"
    assert m["split"] == "xsub"
    assert m["checkpoint"] == str(setup["ckpt"])
    assert m["pretrained_on"]["dataset"] == "ntu60"
    assert m["pretrained_on"]["method"] == "masked"
    assert m["final"]["epoch"] == 3
    assert m["test_samples"] == 12
    assert m["train_samples"] == 24
    assert m["best"]["selected_on"] == "test"
    assert m["best"]["top1"] == max(r["test_top1"] for r in m["history"])
    assert 0 <= m["final"]["top1"] <= m["final"]["top5"] <= 100
    assert set(m["per_class"]) == {"a", "b", "c", "d"}
    assert sum(map(sum, m["confusion"])) == 12
    # the linear probe's frozen encoder: SGD on the head only, augmentation as pretraining
    assert m["settings"]["optimizer"] == "sgd"
    assert m["settings"]["lr"] == 0.1
    saved = (out / "config.yaml").read_text()
    assert "mamp_train" in saved
    assert "rotation" in saved
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (out / "confusion.png").stat().st_size > 0
    assert (out / "curves.png").stat().st_size > 0
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["skelkit"]["kind"] == "evaluate"
    assert ckpt["epoch"] == 3


def test_linear_probe_keeps_the_encoder_frozen(setup: dict[str, Path]) -> None:
    out = setup["root"] / "frozen"
    assert run_eval(setup, "linear", out, "epochs=1", "batch_size=8").exit_code == 0
    pre = torch.load(setup["ckpt"], weights_only=True)["model"]
    after = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"]
    encoder_keys = [k for k in after if k.startswith("encoder.")]
    assert encoder_keys
    for key in encoder_keys:
        assert torch.equal(after[key], pre[key]), key


def test_linear_probe_caches_features_of_a_deterministic_transform(setup: dict[str, Path]) -> None:
    out = setup["root"] / "cached"
    result = run_eval(
        setup, "linear", out, "epochs=2", "batch_size=8",
        "train_transform.name=mamp_test", f"train_transform.window={WINDOW}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    m = metrics_of(out)
    assert m["throughput"]["features_cached"] is True
    assert m["throughput"]["train_samples_per_s"] > 0


def test_knn_end_to_end_and_random_init(setup: dict[str, Path]) -> None:
    out = setup["root"] / "knn"
    assert run_eval(setup, "knn", out).exit_code == 0
    m = metrics_of(out)
    assert m["protocol"] == "knn"
    assert m["settings"]["k"] == 1
    assert m["final"]["top1"] == m["best"]["top1"]
    assert m["throughput"]["feature_samples_per_s"] > 0
    assert sum(map(sum, m["confusion"])) == 12
    scratch = setup["root"] / "knn-scratch"
    assert run_eval(setup, "knn", scratch, "init=scratch", "k=3").exit_code == 0
    assert metrics_of(scratch)["init"] == "scratch"
    assert metrics_of(scratch)["settings"]["k"] == 3


def test_finetune_trains_the_encoder_with_the_mamp_head(setup: dict[str, Path]) -> None:
    out = setup["root"] / "finetune"
    result = run_eval(setup, "finetune", out, "epochs=2", "batch_size=8", "hidden=16")
    assert result.exit_code == 0, result.output
    m = metrics_of(out)
    assert m["settings"]["layer_decay"] == 0.8
    assert m["settings"]["drop_path"] == 0.3
    assert m["settings"]["label_smoothing"] == 0.1
    assert m["settings"]["optimizer"] == "adamw"
    pre = torch.load(setup["ckpt"], weights_only=True)["model"]
    after = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert not torch.equal(
        after["encoder.blocks.0.mlp.fc1.weight"], pre["encoder.blocks.0.mlp.fc1.weight"]
    )
    assert after["head.fc1.weight"].shape == (16, 25 * 32)  # joints x width flattened


def test_finetune_from_scratch(setup: dict[str, Path]) -> None:
    out = setup["root"] / "scratch"
    assert (
        run_eval(
            setup, "finetune", out, "epochs=1", "batch_size=8", "init=scratch", "hidden=16"
        ).exit_code
        == 0
    )
    assert metrics_of(out)["init"] == "scratch"


def test_semi_reports_mean_and_std_over_runs(setup: dict[str, Path]) -> None:
    out = setup["root"] / "semi"
    result = run_eval(
        setup, "semi", out, "ratio=0.5", "runs=2", "epochs=1", "batch_size=4", "hidden=16"
    )
    assert result.exit_code == 0, result.output
    m = metrics_of(out)
    assert m["train_samples"] == 12
    assert len(m["runs"]) == 2
    tops = [r["final_top1"] for r in m["runs"]]
    assert m["over_runs"]["final_top1"]["mean"] == pytest.approx(float(np.mean(tops)))
    assert m["over_runs"]["final_top1"]["std"] == pytest.approx(float(np.std(tops, ddof=1)))
    assert m["runs"][0]["seed"] != m["runs"][1]["seed"]


def test_semi_subset_is_fixed_by_seed() -> None:
    from skelkit.evaluate.data import subset_indices

    a, b = subset_indices(1000, 0.01, 0, 0), subset_indices(1000, 0.01, 0, 0)
    assert len(a) == 10
    assert np.array_equal(a, b)
    assert not np.array_equal(a, subset_indices(1000, 0.01, 0, 1))
    assert len(subset_indices(1000, 0.1, 3, 0)) == 100
    assert len(subset_indices(5, 0.01, 0, 0)) == 1


def test_transfer_records_where_the_encoder_was_pretrained(setup: dict[str, Path]) -> None:
    other = make_store(setup["root"] / "pku.h5", train=16, test=8, seed=1)
    with h5py.File(other, "a") as handle:
        handle.attrs["dataset"] = "pkummd2"
    out = setup["root"] / "transfer"
    result = run_eval(setup, "transfer", out, "epochs=1", "batch_size=8", "hidden=16", data=other)
    assert result.exit_code == 0, result.output
    m = metrics_of(out)
    assert m["dataset"] == "pkummd2"
    assert m["pretrained_on"]["dataset"] == "ntu60"
    assert "the dataset the checkpoint was pretrained on" not in result.output


def test_multi_clip_testing(setup: dict[str, Path]) -> None:
    out = setup["root"] / "clips"
    result = run_eval(setup, "linear", out, "epochs=1", "batch_size=8", "clips=3")
    assert result.exit_code == 0, result.output
    assert metrics_of(out)["settings"]["clips"] == 3
    assert sum(map(sum, metrics_of(out)["confusion"])) == 12


def test_resume_continues_exactly(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import skelkit.evaluate.supervised as supervised

    whole = setup["root"] / "whole"
    assert run_eval(setup, "linear", whole, "epochs=3", "batch_size=8").exit_code == 0
    cut = setup["root"] / "cut"
    real_save = supervised.save_checkpoint
    calls = []

    def save_then_die(path: Path, payload: dict[str, Any]) -> None:
        real_save(path, payload)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(supervised, "save_checkpoint", save_then_die)
    killed = run_eval(setup, "linear", cut, "epochs=3", "batch_size=8")
    assert killed.exit_code != 0
    assert torch.load(cut / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2
    monkeypatch.setattr(supervised, "save_checkpoint", real_save)
    again = run_eval(setup, "linear", cut, "epochs=3", "batch_size=8")
    assert again.exit_code == 2
    assert "--resume" in again.output
    resumed = run_eval(setup, "linear", cut, "epochs=3", "batch_size=8", extra=["--resume"])
    assert resumed.exit_code == 0, resumed.output
    a, b = metrics_of(whole)["history"], metrics_of(cut)["history"]
    assert [r["epoch"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b, strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)
        assert ra["test_top1"] == rb["test_top1"]
    with np.load(whole / "test_logits.npz") as x, np.load(cut / "test_logits.npz") as y:
        np.testing.assert_array_equal(x["index"], y["index"])
        np.testing.assert_allclose(x["logits"], y["logits"], rtol=1e-4, atol=1e-5)
    changed = run_eval(setup, "linear", cut, "epochs=4", "batch_size=8", extra=["--resume"])
    assert changed.exit_code == 2
    assert "protocol.epochs" in changed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["linaer"], "Did you mean 'linear'"),
        (["linear", "--set", "bogus=1"], "unknown key 'bogus'"),
        (["linear", "--set", "protocol.lr=-1"], "protocol.lr"),
        (["linear", "--set", "batch_size=100"], "fewer than protocol.batch_size=100"),
        (["knn", "--set", "protocol.name=linear"], "selects protocol 'linear'"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    setup: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    result = invoke(
        "evaluate", *args, "--checkpoint", str(setup["ckpt"]), "--data", str(setup["store"]),
        "--split", "xsub", "--out", str(tmp_path / "o"), "--device", "cpu",
        "--set", "num_workers=0",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_checkpoint_and_split(setup: dict[str, Path], tmp_path: Path) -> None:
    missing = invoke(
        "evaluate", "knn", "--checkpoint", str(tmp_path / "no.pt"), "--data",
        str(setup["store"]), "--split", "xsub", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    split = invoke(
        "evaluate", "knn", "--checkpoint", str(setup["ckpt"]), "--data", str(setup["store"]),
        "--split", "xset", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert split.exit_code == 2
    assert "xset" in split.output


# -- pieces -----------------------------------------------------------------------------------


def test_meter_counts_top1_top5_and_per_class() -> None:
    from skelkit.evaluate.metrics import ClassificationMeter

    meter = ClassificationMeter(6)
    scores = torch.eye(6)[[0, 1, 2, 0]]  # predictions 0, 1, 2, 0
    meter.update(scores, torch.tensor([0, 1, 3, 3]))
    s = meter.summary()
    assert s.top1 == 50.0
    assert s.samples == 4
    assert s.per_class[3] == 0.0
    assert s.per_class[0] == 100.0
    assert s.per_class[5] is None
    assert s.confusion[3] == [1, 0, 1, 0, 0, 0]


def test_knn_scores_vote_and_break_ties_by_the_nearest() -> None:
    from skelkit.evaluate.knn import knn_scores

    bank = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=1)
    labels = torch.tensor([0, 1, 2])
    query = torch.nn.functional.normalize(torch.tensor([[0.95, 0.05], [0.1, 1.0]]), dim=1)
    assert knn_scores(query, bank, labels, 3, k=1).argmax(1).tolist() == [0, 2]
    # k=2: classes 0 and 1 get one vote each; the nearer voter wins
    scores = knn_scores(query[:1], bank, labels, 3, k=2)
    assert scores.argmax(1).tolist() == [0]
    assert scores.topk(3).indices.tolist() == [[0, 1, 2]]
    bank3 = torch.cat([bank, bank[1:2]])
    labels3 = torch.tensor([0, 1, 2, 1])
    assert knn_scores(query[:1], bank3, labels3, 3, k=3).argmax(1).tolist() == [1]


def test_layer_decay_follows_mamp() -> None:
    from skelkit.evaluate.model import Classifier, LinearHead
    from skelkit.evaluate.optim import param_groups
    from skelkit.nn.transformer import build_transformer

    encoder = build_transformer(num_frames=8, dim=16, depth=2, num_heads=2)
    model = Classifier(encoder, LinearHead(16, 3), train_encoder=True)
    scales = {}
    for group in param_groups(model, 0.05, 0.8):
        for p in group["params"]:
            name = next(n for n, q in model.named_parameters() if q is p)
            scales[name] = (group["lr_scale"], group["weight_decay"])
    assert scales["encoder.pos_embed"] == (pytest.approx(0.8**3), 0.05)
    assert scales["encoder.joints_embed.proj.weight"][0] == pytest.approx(0.8**3)
    assert scales["encoder.blocks.0.attn.qkv.weight"] == (pytest.approx(0.8**2), 0.05)
    assert scales["encoder.blocks.1.attn.qkv.bias"] == (pytest.approx(0.8), 0.0)
    assert scales["encoder.norm.weight"] == (1.0, 0.0)
    assert scales["head.fc.weight"] == (1.0, 0.05)


class PooledEncoder(torch.nn.Module):
    """A small encoder that pools itself (like PCM3's GRU): ``(N, C, T, V, M) -> (N, D)``."""

    feature_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(3 * 25, 8, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, _m = x.shape
        seq = x.mean(dim=-1).permute(0, 2, 1, 3).reshape(n, t, c * v)
        return self.gru(seq)[1][-1]  # type: ignore[no-any-return]


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_heads_accept_pooled_encoders(head: str) -> None:
    from skelkit.evaluate.model import build_classifier
    from skelkit.evaluate.settings import finetune_protocol, linear_protocol

    settings = linear_protocol() if head == "linear" else finetune_protocol(hidden=16)
    model = build_classifier(PooledEncoder(), settings, 5, torch.randn(3, 10, 25, 2))
    logits = model.train()(torch.randn(4, 3, 10, 25, 2))
    assert logits.shape == (4, 5)
    logits.sum().backward()


@pytest.mark.integration
@pytest.mark.slow
def test_two_processes_give_the_metrics_of_one(setup: dict[str, Path], tmp_path: Path) -> None:
    one = tmp_path / "one"
    assert run_eval(setup, "knn", one, "batch_size=4").exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for protocol, out, extra in (
        ("knn", tmp_path / "two", ["batch_size=4"]),
        ("linear", tmp_path / "lin2", ["epochs=1", "batch_size=8"]),
    ):
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "skelkit", "evaluate", protocol,
            "--checkpoint", str(setup["ckpt"]), "--data", str(setup["store"]),
            "--split", "xsub", "--out", str(out), "--device", "cpu",
            *sets(*FAST, *extra),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    a, b = metrics_of(one), metrics_of(tmp_path / "two")
    assert b["world_size"] == 2
    assert a["confusion"] == b["confusion"]
    assert a["final"]["top1"] == b["final"]["top1"]
    lin = metrics_of(tmp_path / "lin2")
    assert lin["world_size"] == 2
    assert sum(map(sum, lin["confusion"])) == 12
    with np.load(tmp_path / "lin2" / "test_logits.npz") as saved:  # gathered from both ranks
        index = saved["index"].tolist()
        top1 = 100.0 * float(np.mean(saved["logits"].argmax(1) == saved["labels"]))
    assert index == sorted(set(index))
    assert len(index) == 12
    assert top1 == pytest.approx(lin["final"]["top1"])


def test_semi_and_transfer_are_finetune_with_their_own_defaults() -> None:
    from skelkit.config import resolve_component_section
    from skelkit.registry import get_registries

    registries = get_registries()
    finetune = resolve_component_section("protocol", {"name": "finetune"}, registries)
    semi = resolve_component_section("protocol", {"name": "semi"}, registries)
    transfer = resolve_component_section("protocol", {"name": "transfer"}, registries)
    assert (finetune["ratio"], finetune["runs"]) == (1.0, 1)
    assert (semi["ratio"], semi["runs"]) == (0.01, 5)
    assert {k: v for k, v in transfer.items() if k != "name"} == {
        k: v for k, v in finetune.items() if k != "name"
    }
