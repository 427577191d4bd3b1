"""Synthetic raw datasets: real formats, determinism, denoiser situations, split coverage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.data.datasets import get_dataset_info
from skelkit.data.ntu_format import read_skeleton_file
from skelkit.data.pku_format import read_pku_labels, read_pku_skeleton
from skelkit.data.synth import NoiseRates, spread_actions, synthesize
from skelkit.data.synth_motion import class_program, rotation_to_quaternion
from skelkit.errors import ConfigError

runner = CliRunner()

# The CTR-GCN denoiser's constants (reference/data.md 2.2).
NOISE_LEN = 11
SPREAD_RATIO = 0.8
SPREAD_NOISE = 0.69754


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def body_tracks(path: Path) -> tuple[int, dict[str, tuple[list[int], np.ndarray]]]:
    """Frame count and, per body id, its frames and joints (n, 25, 3)."""
    skeleton = read_skeleton_file(path)
    frames: dict[str, list[int]] = {}
    joints: dict[str, list[np.ndarray]] = {}
    for index, bodies in enumerate(skeleton.frames):
        for body in bodies:
            frames.setdefault(body.body_id, []).append(index)
            joints.setdefault(body.body_id, []).append(body.xyz)
    return skeleton.num_frames, {k: (frames[k], np.stack(joints[k])) for k in frames}


def spread_noise(xyz: np.ndarray) -> float:
    x_range = np.ptp(xyz[:, :, 0], axis=1)
    y_range = np.ptp(xyz[:, :, 1], axis=1)
    return float(np.mean(x_range > SPREAD_RATIO * y_range))


def situations_of(path: Path) -> set[str]:
    """The denoiser situations found in one .skeleton file, by the reference rules."""
    num_frames, tracks = body_tracks(path)
    found = set()
    covered = {f for frames, _ in tracks.values() for f in frames}
    if len(covered) < num_frames:
        found.add("empty_frames")
    actors = 0
    for frames, xyz in tracks.values():
        if len(frames) <= NOISE_LEN:
            found.add("spurious")
        elif spread_noise(xyz) >= SPREAD_NOISE:
            found.add("spread")
        else:
            actors += 1
            if frames[-1] - frames[0] + 1 > len(frames):
                found.add("vanish")
    assert actors in (1, 2), f"{path.name}: {actors} performers"
    if actors == 2:
        found.add("two_person")
    return found


@pytest.fixture(scope="module")
def ntu120_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("ntu120")
    report = synthesize(
        "ntu120", out, samples=60, classes=12, seed=11, min_length=30, max_length=60
    )
    return out, report.as_dict()


def test_ntu_files_read_back_with_the_real_reader(
    ntu120_raw: tuple[Path, dict[str, object]],
) -> None:
    out, report = ntu120_raw
    assert report["files"] == 60
    # NTU-120 is written in the two folders of the release, split at setup 17 / action 60.
    assert report["folders"] == ["nturgb+d_skeletons", "nturgb+d_skeletons_120"]
    info = get_dataset_info("ntu120")
    sources = info.discover([out])
    assert len(sources) == 60
    samples = [s for source in sources for s in info.read(source)]
    labels = {s.label for s in samples}
    assert labels == {a - 1 for a in report["actions"]}  # type: ignore[union-attr]
    for sample in samples:
        folder = sample.source.parent.name
        assert (sample.meta["setup"] <= 17) == (folder == "nturgb+d_skeletons")
        assert (sample.meta["action"] <= 60) == (sample.meta["setup"] <= 17)
        if sample.meta["setup"] <= 17:
            assert sample.meta["subject"] <= 40


def test_ntu_files_hold_every_denoiser_situation(
    ntu120_raw: tuple[Path, dict[str, object]],
) -> None:
    out, report = ntu120_raw
    counts = dict.fromkeys(("spurious", "spread", "empty_frames", "vanish", "two_person"), 0)
    for path in sorted(out.rglob("*.skeleton")):
        for situation in situations_of(path):
            counts[situation] += 1
    expected = report["situations"]
    assert isinstance(expected, dict)
    for key in ("spurious", "spread", "vanish", "two_person"):
        assert counts[key] == expected[key] > 0, key
    # a performer that vanishes from a one-person file also leaves frames without a body
    assert counts["empty_frames"] >= expected["empty_frames"] > 0


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        seed = 3 if name != "c" else 4
        synthesize("ntu60", tmp_path / name, samples=7, classes=3, seed=seed)
        synthesize("pkummd2", tmp_path / name / "pku", samples=9, classes=3, seed=seed)
    first, second, third = (digest(tmp_path / n) for n in "abc")
    assert first == second
    assert first != third


def test_output_does_not_depend_on_workers(tmp_path: Path) -> None:
    for workers in (1, 2):
        out = tmp_path / str(workers)
        synthesize("ntu120", out, samples=8, classes=4, seed=9, workers=workers)
        synthesize("pkummd1", out / "pku", samples=30, classes=4, seed=9, workers=workers)
    assert digest(tmp_path / "1") == digest(tmp_path / "2")


@pytest.mark.parametrize(
    ("dataset", "samples", "classes"),
    [("ntu60", 8, 3), ("ntu120", 8, 3), ("pkummd1", 40, 5), ("pkummd2", 40, 5)],
)
def test_every_official_split_gets_train_and_test_samples(
    tmp_path: Path, dataset: str, samples: int, classes: int
) -> None:
    report = synthesize(dataset, tmp_path, samples=samples, classes=classes, seed=1)
    info = get_dataset_info(dataset)
    read = [s for source in info.discover([tmp_path]) for s in info.read(source)]
    assert len(read) == samples == report.samples
    splits = info.assign_splits(read)
    assert set(splits) == set(info.splits)
    for split, parts in splits.items():
        for part, indices in parts.items():
            assert len(indices) > 0, f"{dataset} {split}/{part} is empty"


def test_pku_videos_labels_and_persons(tmp_path: Path) -> None:
    report = synthesize("pkummd1", tmp_path, samples=60, classes=51, seed=2)
    assert report.samples == 60
    assert (tmp_path / "cross-subject.txt").is_file()
    assert (tmp_path / "cross-view.txt").is_file()
    skeletons = sorted((tmp_path / "PKU_Skeleton_Renew").glob("*.txt"))
    assert len(skeletons) == report.files
    total = 0
    two_person_videos = 0
    names = get_dataset_info("pkummd1").class_names
    for path in skeletons:
        frames = read_pku_skeleton(path)
        rows = read_pku_labels(tmp_path / "Train_Label_PKU_final" / path.name)
        total += len(rows)
        second = np.abs(frames[:, 75:]).sum()
        kinds = {"other person" in names[r.action - 1] or r.action == 14 for r in rows}
        assert len(kinds) == 1  # a video holds one-person or two-person actions only
        assert (second > 0) == kinds.pop()
        two_person_videos += int(second > 0)
        for row in rows:
            assert 0 <= row.start < row.end <= len(frames)
            assert (np.abs(frames[row.start : row.end, :75]).sum(axis=1) > 0).all()
    assert total == 60
    assert two_person_videos == report.situations["two_person"] > 0


def test_class_programs_depend_only_on_the_class() -> None:
    first, again, other = class_program(7, False), class_program(7, False), class_program(8, False)
    assert np.array_equal(first.main.centre, again.main.centre)
    assert first.main.actuator[0] != other.main.actuator[0]
    assert class_program(55, True).partner is not None


def test_quaternions_match_rotations() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(200, 3, 3)))
    q *= np.sign(np.linalg.det(q))[:, None, None]
    w, x, y, z = np.moveaxis(rotation_to_quaternion(q), -1, 0)
    rebuilt = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )
    np.testing.assert_allclose(rebuilt, q, atol=1e-9)


def test_actions_spread_over_the_dataset() -> None:
    assert spread_actions(120, 3, "ntu120") == (1, 60, 120)
    assert spread_actions(60, 60, "ntu60") == tuple(range(1, 61))
    with pytest.raises(ConfigError, match="at most 60"):
        spread_actions(60, 61, "ntu60")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "kinetics"}, "can not write dataset 'kinetics'"),
        ({"samples": 0}, "--samples must be at least 1"),
        ({"classes": 0}, "--classes must be at least 1"),
        ({"min_length": 10}, "at least 20 frames"),
        ({"max_length": 30}, "below the minimum"),
        ({"noise": {"ghosts": 0.1}}, "unknown noise rate 'ghosts'"),
        ({"noise": {"spread": 2.0}}, "must be in \\[0, 1\\]"),
    ],
)
def test_bad_requests_raise_config_errors(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"dataset": "ntu60", "samples": 3, "classes": 2}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        synthesize(out_dir=tmp_path, **args)  # type: ignore[arg-type]


def test_zero_noise_rates_write_clean_files(tmp_path: Path) -> None:
    rates = NoiseRates(spurious=0.0, spread=0.0, empty_frames=0.0, vanish=0.0)
    report = synthesize("ntu60", tmp_path, samples=6, classes=6, seed=0, noise=rates)
    assert {k: v for k, v in report.situations.items() if k != "two_person"} == dict.fromkeys(
        ("spurious", "spread", "empty_frames", "vanish"), 0
    )
    for path in tmp_path.rglob("*.skeleton"):
        assert situations_of(path) <= {"two_person"}


def test_cli_synth_json_and_files(tmp_path: Path) -> None:
    result = runner.invoke(
        get_app(),
        ["synth", "ntu60", "--out", str(tmp_path), "--samples", "12", "--classes", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"] == 12
    assert summary["actions"] == [1, 60]
    assert len(list(tmp_path.rglob("*.skeleton"))) == 12


def test_cli_synth_unknown_dataset_suggests_a_name(tmp_path: Path) -> None:
    result = runner.invoke(get_app(), ["synth", "ntu6", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Did you mean 'ntu60'" in result.output
    assert "Traceback" not in result.output


def test_cli_synth_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "old.skeleton").write_text("1\n0\n")
    args = ["synth", "ntu60", "--out", str(tmp_path), "--samples", "3", "--classes", "1"]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert not (tmp_path / "nturgb+d_skeletons").exists()
    result = runner.invoke(get_app(), [*args, "--force", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "nturgb+d_skeletons").glob("*.skeleton"))) == 3


def test_cli_synth_bad_noise_option(tmp_path: Path) -> None:
    result = runner.invoke(
        get_app(), ["synth", "ntu60", "--out", str(tmp_path), "--noise", "spurious"]
    )
    assert result.exit_code == 2
    assert "KEY=RATE" in result.output


def test_ctrgcn_recipe_removes_the_artefacts_and_keeps_the_performers(tmp_path: Path) -> None:
    from skelkit.data.preprocess import preprocess
    from skelkit.data.store import open_store

    rates = NoiseRates(spurious=0.4, spread=0.4, empty_frames=0.4, vanish=0.4)
    synthesize("ntu60", tmp_path / "raw", samples=24, classes=4, seed=5, noise=rates)
    preprocess("ntu60", [tmp_path / "raw"], tmp_path / "ntu60.h5", workers=1)
    with open_store(tmp_path / "ntu60.h5") as store:
        assert store.num_samples == 24
        for index, name in enumerate(store.names):
            frames = store.read(index)
            present = np.abs(frames).sum(axis=(2, 3)) > 0  # (T, M)
            assert present[:, 0].mean() > 0.7, name
            if int(name[-3:]) >= 50:  # A050-A060 are two-person actions
                assert present[:, 1].mean() > 0.7, name
            else:  # noise bodies were removed: nothing is left for the second actor
                assert not present[:, 1].any(), name
