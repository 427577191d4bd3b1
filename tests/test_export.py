"""``skelkit export`` and ``skelkit embed`` for every built-in encoder.

Encoders (tiny, randomly perturbed so every weight matters): the MAMP transformer (4-frame
segments, fused qkv), the Skeleton2vec transformer (3-frame segments, separate q/k/v,
LayerScale, eps 1e-6; its EMA teacher is the encoder that is exported) and PCM3's GRU
(motion stream). Every exported file must equal the eager encoder
within 1e-5 on random batches of several sizes (dynamic batch axis) and on real samples
made by ``skelkit synth`` + ``skelkit preprocess`` under the checkpoint's test transform.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.errors import DataError, PluginError
from skelkit.export.model import ExportedEncoder, example_input
from skelkit.train.checkpoint import header, load_encoder, save_checkpoint

runner = CliRunner()
TOL = 1e-5
FORMATS = ("torchscript", "onnx", "safetensors")

#: Width 32, one block: small enough to export in a second.
TINY_TRANSFORMER = (
    "encoder.dim=32",
    "encoder.depth=1",
    "encoder.num_heads=2",
    "method.decoder_dim=32",
    "method.decoder_depth=1",
    "method.decoder_heads=2",
)

#: name -> (preset, overrides): the built-in encoder configurations, tiny.
ENCODERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "mamp": ("mamp", TINY_TRANSFORMER),
    "skeleton2vec": (
        "skeleton2vec",
        (*TINY_TRANSFORMER, "encoder.depth=2", "target.top_k=2"),
    ),
    "gru": (
        "pcm3",
        (
            "encoder.hidden_size=16",
            "encoder.num_layers=2",
            "encoder.stream=motion",
            "method.prompt_size=8",
        ),
    ),
}


def invoke(*args: str) -> Any:
    return runner.invoke(get_app(), list(args))


def make_checkpoint(path: Path, name: str) -> Path:
    """A checkpoint of the ``name`` configuration with perturbed weights and BN statistics."""
    from skelkit.config import resolve_config
    from skelkit.methods.build import build_method
    from skelkit.registry import get_registries

    preset, overrides = ENCODERS[name]
    config = resolve_config(get_registries(), preset=preset, overrides=list(overrides))
    torch.manual_seed(0)
    method = build_method(config)
    with torch.no_grad():
        for param in method.parameters():
            param.add_(0.05 * torch.randn_like(param))
        for key, buf in method.named_buffers():
            if key.endswith("running_mean"):
                buf.copy_(0.1 * torch.randn_like(buf))
            elif key.endswith("running_var"):
                buf.copy_(0.5 + torch.rand_like(buf))
    recipe = config.get("recipe") or "ctrgcn"
    save_checkpoint(
        path,
        {
            "skelkit": header("pretrain"),
            "config": config,
            "model": method.state_dict(),
            "dataset": "ntu60",
            "recipe": recipe,
            "epoch": 1,
            "step": 10,
        },
    )
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def checkpoints(workdir: Path) -> dict[str, Path]:
    from skelkit.plugins import reset_plugin_manager

    reset_plugin_manager()
    return {name: make_checkpoint(workdir / f"{name}.pt", name) for name in ENCODERS}


@pytest.fixture(scope="module")
def store(workdir: Path) -> Path:
    """Real preprocessed samples: synthetic NTU-60 raw files through the ctrgcn recipe."""
    raw, out = workdir / "raw", workdir / "ntu60.h5"
    result = invoke("synth", "ntu60", "--out", str(raw), "-n", "24", "-k", "4", "-j", "1")
    assert result.exit_code == 0, result.output
    result = invoke("preprocess", "ntu60", "--raw", str(raw), "--out", str(out), "-j", "1")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def exported(checkpoints: dict[str, Path], workdir: Path) -> dict[tuple[str, str], Path]:
    """Every encoder in every format, written through the CLI."""
    files = {}
    for name, ckpt in checkpoints.items():
        for fmt in FORMATS:
            out = workdir / f"{name}.{fmt}"
            result = invoke("export", str(ckpt), "--format", fmt, "--out", str(out), "--json")
            assert result.exit_code == 0, result.output
            summary = json.loads(result.stdout)
            assert summary["max_abs_diff"] <= TOL
            files[(name, fmt)] = out
    return files


#: Where each method keeps the encoder it is evaluated with (Skeleton2vec: the EMA teacher).
ENCODER_PATH = {"skeleton2vec": "target.teacher"}


def eager(ckpt: Path, pooled: bool = True) -> ExportedEncoder:
    """The eager reference: the checkpoint's evaluated encoder, loaded by the engine."""
    encoder = load_encoder(ckpt, which=ENCODER_PATH.get(ckpt.stem, "encoder"))
    return ExportedEncoder(encoder, pooled=pooled).eval()


def run_exported(fmt: str, path: Path, x: torch.Tensor) -> np.ndarray:
    """Run an exported file with the runtime a user would use (not skelkit's wrappers)."""
    if fmt == "torchscript":
        with torch.no_grad():
            return torch.jit.load(str(path)).eval()(x).numpy()  # type: ignore[no-any-return]
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {"x": x.numpy()})[0])
    from skelkit.export import load_safetensors

    with torch.no_grad():
        return ExportedEncoder(load_safetensors(path)).eval()(x).numpy()


def frames_of(name: str) -> int:
    return {"mamp": 120, "skeleton2vec": 90, "gru": 64}[name]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(ENCODERS))
def test_exported_equals_eager_on_random_batches(
    exported: dict[tuple[str, str], Path], checkpoints: dict[str, Path], name: str, fmt: str
) -> None:
    model = eager(checkpoints[name])
    for batch in (1, 5):
        x = example_input(frames_of(name), batch=batch, seed=10 + batch)
        with torch.no_grad():
            expected = model(x).numpy()
        got = run_exported(fmt, exported[(name, fmt)], x)
        assert got.shape == expected.shape == (batch, model.encoder.feature_dim)
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(ENCODERS))
def test_exported_equals_eager_on_real_samples(
    exported: dict[tuple[str, str], Path],
    checkpoints: dict[str, Path],
    store: Path,
    name: str,
    fmt: str,
) -> None:
    from skelkit.data.loader import SkeletonDataset, collate
    from skelkit.train.checkpoint import load_checkpoint
    from skelkit.train.data import build_transform, with_default_transforms

    config = with_default_transforms(load_checkpoint(checkpoints[name])["config"])
    dataset = SkeletonDataset(store, "xsub", "test", build_transform(config, "test_transform"))
    x = collate([dataset[i] for i in range(4)])["x"]
    assert x.shape == (4, 3, frames_of(name), 25, 2)
    with torch.no_grad():
        expected = eager(checkpoints[name])(x).numpy()
    np.testing.assert_allclose(run_exported(fmt, exported[(name, fmt)], x), expected, atol=TOL)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_token_grid_export(checkpoints: dict[str, Path], workdir: Path, fmt: str) -> None:
    out = workdir / f"tokens.{fmt}"
    result = invoke(
        "export", str(checkpoints["skeleton2vec"]), "-f", fmt, "-o", str(out), "--tokens"
    )
    assert result.exit_code == 0, result.output
    x = example_input(90, batch=3, seed=3)
    with torch.no_grad():
        expected = eager(checkpoints["skeleton2vec"], pooled=False)(x).numpy()
    got = run_exported(fmt, out, x)
    assert got.shape == (3, 2, 30, 25, 32)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def test_skeleton2vec_exports_the_teacher(
    exported: dict[tuple[str, str], Path], checkpoints: dict[str, Path]
) -> None:
    from skelkit.export import load_safetensors

    model = torch.load(checkpoints["skeleton2vec"], weights_only=True)["model"]
    loaded = load_safetensors(exported[("skeleton2vec", "safetensors")]).state_dict()
    for key, value in loaded.items():
        assert torch.equal(value, model[f"target.teacher.{key}"]), key
    assert not torch.equal(model["target.teacher.norm.weight"], model["encoder.norm.weight"])


def test_metadata_names_the_model_and_the_preprocessing(
    exported: dict[tuple[str, str], Path],
) -> None:
    from skelkit.export import onnx_format, safetensors_format, torchscript_format

    metas = [
        onnx_format.read_metadata(exported[("mamp", "onnx")]),
        safetensors_format.read_metadata(exported[("mamp", "safetensors")]),
        torchscript_format.read_metadata(exported[("mamp", "torchscript")]),
    ]
    for meta in metas:
        assert json.loads(meta["recipe"]) == "ctrgcn"
        assert json.loads(meta["encoder"])["name"] == "transformer"
        assert json.loads(meta["encoder"])["segment_length"] == 4
        assert json.loads(meta["test_transform"])["name"] == "mamp_test"
        assert json.loads(meta["input"])["shape"] == ["N", 3, 120, 25, 2]
        assert json.loads(meta["output"]) == {"kind": "pooled", "shape": ["N", 32]}
        assert json.loads(meta["method"]) == "masked"


def test_safetensors_loads_back_the_same_weights(
    exported: dict[tuple[str, str], Path], checkpoints: dict[str, Path]
) -> None:
    from skelkit.export import load_safetensors

    for name in ENCODERS:
        loaded = load_safetensors(exported[(name, "safetensors")])
        reference = eager(checkpoints[name]).encoder
        assert type(loaded) is type(reference)
        assert not loaded.training
        for key, value in reference.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key


def test_corrupted_and_foreign_files_are_clear_errors(
    checkpoints: dict[str, Path], workdir: Path
) -> None:
    data = checkpoints["mamp"].read_bytes()
    broken = workdir / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    result = invoke("export", str(broken), "-f", "onnx", "-o", str(workdir / "b.onnx"))
    assert result.exit_code == 2
    assert "broken.pt" in result.output
    assert "can not be read" in result.output
    assert "Traceback" not in result.output

    other = workdir / "plain.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    result = invoke("export", str(other), "-f", "torchscript", "-o", str(workdir / "p.pt"))
    assert result.exit_code == 2
    assert "not a skelkit checkpoint" in result.output
    assert not (workdir / "p.pt").exists()


def test_checkpoint_of_another_method_is_a_clear_error(
    checkpoints: dict[str, Path], workdir: Path
) -> None:
    """A MAMP config with PCM3 weights: the stored weights do not fit the encoder."""
    mamp = torch.load(checkpoints["mamp"], weights_only=True)
    gru = torch.load(checkpoints["gru"], weights_only=True)
    mixed = workdir / "mixed.pt"
    save_checkpoint(mixed, {**mamp, "model": gru["model"]})
    result = invoke("export", str(mixed), "-f", "onnx", "-o", str(workdir / "m.onnx"))
    assert result.exit_code == 2
    assert "do not fit the encoder" in result.output
    assert not (workdir / "m.onnx").exists()


def test_evaluation_checkpoint_is_a_clear_error(
    checkpoints: dict[str, Path], workdir: Path
) -> None:
    """An evaluation checkpoint holds the classifier but not the encoder's configuration."""
    mamp = torch.load(checkpoints["mamp"], weights_only=True)
    evaluated = workdir / "evaluated.pt"
    config = {"protocol": {"name": "linear"}, "data": {}}
    save_checkpoint(evaluated, {**mamp, "skelkit": header("evaluate"), "config": config})
    result = invoke("export", str(evaluated), "-f", "onnx", "-o", str(workdir / "ev.onnx"))
    assert result.exit_code == 2
    assert "evaluation checkpoint" in result.output


def test_option_errors(checkpoints: dict[str, Path], workdir: Path) -> None:
    out = str(workdir / "e.onnx")
    result = invoke("export", str(checkpoints["mamp"]), "-f", "tflite", "-o", out)
    assert result.exit_code == 2
    assert "unknown exporter 'tflite'" in result.output
    assert "onnx" in result.output
    result = invoke("export", str(checkpoints["gru"]), "-f", "onnx", "-o", out, "--tokens")
    assert result.exit_code == 2
    assert "pooled features only" in result.output
    result = invoke("export", str(checkpoints["mamp"]), "-f", "onnx", "-o", out, "--frames", "60")
    assert result.exit_code == 2
    assert "--frames 120" in result.output
    result = invoke("export", str(checkpoints["mamp"]), "-f", "onnx", "-o", str(workdir))
    assert result.exit_code == 2
    assert "is a folder" in result.output


def test_gru_exports_any_number_of_frames(checkpoints: dict[str, Path], workdir: Path) -> None:
    out = workdir / "gru50.onnx"
    result = invoke(
        "export", str(checkpoints["gru"]), "-f", "onnx", "-o", str(out), "--frames", "50"
    )
    assert result.exit_code == 0, result.output
    x = example_input(50, batch=2, seed=5)
    with torch.no_grad():
        expected = eager(checkpoints["gru"])(x).numpy()
    np.testing.assert_allclose(run_exported("onnx", out, x), expected, rtol=0, atol=TOL)


def test_missing_optional_extra_names_it(
    checkpoints: dict[str, Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = invoke("export", str(checkpoints["mamp"]), "-f", "onnx", "-o", str(workdir / "x.onnx"))
    assert result.exit_code == 2
    assert "pip install 'skelkit[onnx]'" in result.output
    from skelkit.export import load_safetensors

    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(PluginError, match=r"skelkit\[safetensors\]"):
        load_safetensors(workdir / "anything.safetensors")


def test_load_safetensors_rejects_foreign_files(workdir: Path) -> None:
    from safetensors.torch import save_file

    from skelkit.export import load_safetensors

    foreign = workdir / "foreign.safetensors"
    save_file({"w": torch.zeros(3)}, str(foreign))
    with pytest.raises(DataError, match="no skelkit metadata"):
        load_safetensors(foreign)
    garbage = workdir / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match="not a readable safetensors file"):
        load_safetensors(garbage)
    with pytest.raises(DataError, match="does not exist"):
        load_safetensors(workdir / "missing.safetensors")


@pytest.mark.slow
def test_full_size_mamp_transformer_onnx(workdir: Path) -> None:
    """The MAMP encoder at its published size (width 256, depth 8, 120 frames)."""
    from skelkit.export.onnx_format import OnnxExporter
    from skelkit.registry import get_registries

    torch.manual_seed(0)
    encoder = get_registries().build("encoder", {"name": "transformer"}).eval()
    module = ExportedEncoder(encoder)
    out = workdir / "mamp_full.onnx"
    OnnxExporter().export(module, example_input(120), out, {})
    x = example_input(120, batch=3, seed=7)
    with torch.no_grad():
        expected = module(x).numpy()
    np.testing.assert_allclose(run_exported("onnx", out, x), expected, rtol=0, atol=TOL)


# -- skelkit embed ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_embed_writes_the_pooled_features(
    checkpoints: dict[str, Path], store: Path, workdir: Path, name: str
) -> None:
    from skelkit.data.loader import SkeletonDataset, collate
    from skelkit.data.store import open_store
    from skelkit.train.checkpoint import load_checkpoint
    from skelkit.train.data import build_transform, with_default_transforms

    out_h5, out_npy = workdir / f"{name}_feats.h5", workdir / f"{name}_feats.npy"
    for out in (out_h5, out_npy):
        args = ["embed", str(checkpoints[name]), "--data", str(store), "--split", "xsub"]
        result = invoke(*args, "--part", "test", "--out", str(out), "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["out"] == str(out)
    config = with_default_transforms(load_checkpoint(checkpoints[name])["config"])
    dataset = SkeletonDataset(store, "xsub", "test", build_transform(config, "test_transform"))
    batch = collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        expected = eager(checkpoints[name])(batch["x"]).numpy()
    with h5py.File(out_h5) as f:
        np.testing.assert_allclose(f["features"][()], expected, rtol=0, atol=TOL)
        assert f["features"].dtype == np.float32
        np.testing.assert_array_equal(f["labels"][()], batch["labels"].numpy())
        with open_store(store) as source:
            names = [source.names[i] for i in source.split_indices("xsub", "test")]
        assert [n.decode() for n in f["names"][()]] == names
        assert f.attrs["split"] == "xsub"
        assert f.attrs["part"] == "test"
    np.testing.assert_array_equal(np.load(out_npy), expected.astype(np.float32))


def test_embed_errors(checkpoints: dict[str, Path], store: Path, workdir: Path) -> None:
    base = ["embed", str(checkpoints["mamp"]), "--data", str(store)]
    result = invoke(*base, "--out", str(workdir / "f.csv"))
    assert result.exit_code == 2
    assert "use .h5" in result.output
    result = invoke(*base, "--split", "xfoo", "--out", str(workdir / "f.h5"))
    assert result.exit_code == 2
    assert "xfoo" in result.output


def test_embed_device_cuda(checkpoints: dict[str, Path], store: Path, workdir: Path) -> None:
    """``--device cuda`` equals the CPU features on a GPU; without one it is a clear error."""
    args = ["embed", str(checkpoints["mamp"]), "--data", str(store), "--device"]
    cuda_out = workdir / "cuda.npy"
    result = invoke(*args, "cuda", "--out", str(cuda_out))
    if not torch.cuda.is_available():
        assert result.exit_code == 2
        assert "no CUDA device" in result.output
        return
    assert result.exit_code == 0, result.output
    cpu_out = workdir / "cpu.npy"
    assert invoke(*args, "cpu", "--out", str(cpu_out)).exit_code == 0
    np.testing.assert_allclose(np.load(cuda_out), np.load(cpu_out), atol=1e-4)


# -- shell completion -----------------------------------------------------------------------


def complete(words: str, cwd: Path | None = None) -> list[str]:
    """What bash completion offers for the last word of ``words``."""
    from tests.conftest import run_skelkit

    env = {
        "_SKELKIT_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    return run_skelkit(env=env, cwd=cwd).stdout.split()


@pytest.mark.integration
def test_completion_of_export_and_embed(store: Path) -> None:
    assert complete("skelkit export model.pt --format ") == ["onnx", "safetensors", "torchscript"]
    assert complete("skelkit export model.pt --format s") == ["safetensors"]
    assert complete(f"skelkit embed model.pt --data {store} --split ") == ["xsub", "xview"]
    assert complete(f"skelkit embed model.pt --data {store} --split xsub --part ") == [
        "test",
        "train",
    ]
    assert complete("skelkit embed model.pt --device c") == ["cpu", "cuda"]
    assert complete("skelkit embed model.pt --split ") == []  # no --data yet: nothing to offer
