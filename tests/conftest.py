"""Shared test fixtures.

Every test runs with plugins installed on the machine hidden (only the plugins shipped with
skelkit load) and with a fresh plugin manager, registries and CLI application.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _reset() -> None:
    from skelkit.cli.app import reset_app
    from skelkit.plugins import reset_plugin_manager

    reset_plugin_manager()
    reset_app()


@pytest.fixture(autouse=True)
def isolated_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hide third-party plugins installed on the machine; start from a fresh manager."""
    monkeypatch.setenv("SKELKIT_LOAD_PLUGINS", "")
    monkeypatch.delenv("SKELKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SKELKIT_STRICT_PLUGINS", raising=False)
    from skelkit.cli import state

    saved = (state.OPTIONS.debug, state.OPTIONS.quiet, list(state.OPTIONS.plugins))
    _reset()
    yield
    state.OPTIONS.debug, state.OPTIONS.quiet, state.OPTIONS.plugins = saved
    _reset()


def run_skelkit(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m skelkit ARGS`` in a fresh interpreter."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "skelkit", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def pip_install_target(package: Path, target: Path) -> None:
    """``pip install --target`` a local plugin package (no network, no build isolation)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(package),
        ],
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's tiny models on one thread: the fastest for them, and they do not fight
    other processes for the cores (``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
