"""Every command line in docs/ runs, so the documentation can not rot.

Conventions (docs/README.md explains them to writers):

* Commands to run are ```` ```console ```` blocks of ``$ command`` lines (a trailing ``\\``
  continues a line). Lines without ``$`` are example output and are not compared, except
  that a command whose first output line starts with ``skelkit: error:`` must exit with
  code 2 and print that line's text (up to any ``...``).
* Each page runs top to bottom, in ``bash``, in a fresh folder that already holds the
  workspace: ``raw/`` (synthetic NTU-60 raw files from ``skelkit synth``),
  ``data/ntu60_ctrgcn.h5`` (their store), ``runs/mamp/checkpoints/last.pt`` (a small MAMP
  run) and ``tiny.yaml`` (a config that makes any transformer run small).
  ``SKELKIT_DATA_DIR`` points to ``data/`` and ``SKELKIT_REPO`` to the source checkout.
* HTML comments steer the test and stay invisible on the rendered page:
  ``<!-- docs-test: skip REASON -->`` skips the next console block (shown as a skip with
  REASON); ``<!-- docs-test: replace OLD => NEW -->`` rewrites the rest of the page's
  commands (real dataset folders -> the synthetic ones, paper-scale runs -> small ones);
  ``<!-- docs-test: run COMMAND -->`` runs a hidden set-up command.
* A ``skelkit`` command line outside a console block is an error, so none escapes the test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(skip|replace|run)\b(.*?)-->", re.S)
#: Programs a runnable block may call; anything else must be marked as not runnable.
PROGRAMS = {"skelkit", "python", "torchrun", "ls", "cat", "head", "mkdir", "cp", "echo"}
TINY_YAML = """\
# Makes any transformer pretraining run small (docs tests only).
encoder: {dim: 32, depth: 1, num_heads: 2}
method: {decoder_dim: 32, decoder_depth: 1, decoder_heads: 2}
train: {epochs: 1, batch_size: 8, num_workers: 0, warmup_epochs: 0, log_every: 1}
"""


@dataclass
class Step:
    """One thing to run: a command, or a skipped block."""

    line: int
    command: str = ""
    expect_error: str | None = None
    skip: str | None = None


@dataclass
class Page:
    path: Path
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str, list[str]]]:
    """``(line, command, output lines)`` of a console block."""
    commands: list[tuple[int, str, list[str]]] = []
    pending: tuple[int, str] | None = None
    for number, text in lines:
        if pending is not None:
            start, acc = pending
            acc += " " + text.strip()
            if acc.endswith("\\"):
                pending = (start, acc[:-1].rstrip())
            else:
                commands.append((start, acc, []))
                pending = None
            continue
        if text.startswith("$ "):
            command = text[2:].strip()
            if command.endswith("\\"):
                pending = (number, command[:-1].rstrip())
            else:
                commands.append((number, command, []))
        elif commands and text.strip():
            commands[-1][2].append(text.strip())
    return commands


def parse_page(path: Path) -> Page:
    """The steps of one page, with its replace directives applied."""
    page = Page(path)
    text = path.read_text()
    lines = text.splitlines()
    replaces: list[tuple[str, str]] = []
    skip_next: str | None = None
    in_block, block_lang, block_lines, block_start = False, "", [], 0
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not in_block:
            directives = DIRECTIVE.findall(line) if stripped.startswith("<!--") else []
            for kind, arg in directives:
                arg = arg.strip()
                if kind == "skip":
                    skip_next = arg or "marked as not runnable"
                elif kind == "replace":
                    old, sep, new = arg.partition("=>")
                    if not sep:
                        page.problems.append(f"{path.name}:{number}: replace needs 'OLD => NEW'")
                    replaces.append((old.strip(), new.strip()))
                else:
                    page.steps.append(Step(number, _apply(arg, replaces)))
            if stripped.startswith("```"):
                in_block, block_lang, block_lines, block_start = (
                    True,
                    stripped[3:].strip(),
                    [],
                    number,
                )
            elif re.match(r"^\$\s*skelkit\s", stripped):
                page.problems.append(f"{path.name}:{number}: skelkit command outside a block")
            continue
        if stripped.startswith("```"):
            in_block = False
            if block_lang == "console":
                if skip_next is not None:
                    page.steps.append(Step(block_start, skip=skip_next))
                else:
                    for start, command, output in _join_continuations(block_lines):
                        expect = None
                        if output and output[0].startswith("skelkit: error:"):
                            expect = output[0].split("...")[0].strip()
                        page.steps.append(Step(start, _apply(command, replaces), expect))
                skip_next = None
            else:
                for offset, (_, text_line) in enumerate(block_lines):
                    # Plain blocks may hold a synopsis; shell blocks and $ prompts may not.
                    shell = block_lang in {"bash", "sh", "shell", "zsh"}
                    prompt = text_line.strip().startswith("$ skelkit")
                    if prompt or (shell and re.match(r"^skelkit\s", text_line.strip())):
                        page.problems.append(
                            f"{path.name}:{block_start + offset + 1}: skelkit command in a "
                            f"'{block_lang or 'plain'}' block; use a console block"
                        )
            continue
        block_lines.append((number, line))
    return page


def program_of(command: str) -> str:
    """The program a command line runs (after leading ``VAR=value`` assignments)."""
    for token in shlex.split(command):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            return token
    return ""


def _apply(command: str, replaces: list[tuple[str, str]]) -> str:
    for old, new in replaces:
        command = command.replace(old, new)
    return command


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every page starts from (see the module docstring)."""
    base = tmp_path_factory.mktemp("docs-workspace")
    (base / "tiny.yaml").write_text(TINY_YAML)
    setup = [
        "skelkit synth ntu60 --out raw -n 48 -k 4 -j 1",
        "skelkit preprocess ntu60 --raw raw -j 1",
        "skelkit pretrain --plugin mamp -c tiny.yaml --data data/ntu60_ctrgcn.h5 "
        "--split xsub --out runs/mamp",
    ]
    for command in setup:
        result = run(command, base)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return base


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one documented command line in ``bash`` with the test's skelkit first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SKELKIT_DATA_DIR"] = str(cwd / "data")
    env["SKELKIT_REPO"] = str(ROOT)
    env["COLUMNS"] = "120"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_there_are_documented_commands() -> None:
    steps = [s for p in PAGES for s in parse_page(p).steps if s.command]
    assert len(steps) >= 20


def test_every_command_is_in_a_console_block() -> None:
    problems = [problem for path in PAGES for problem in parse_page(path).problems]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_commands_run(path: Path, workspace: Path, tmp_path: Path) -> None:
    page = parse_page(path)
    if not page.steps:
        pytest.skip("no commands on this page")
    folder = tmp_path / "ws"
    shutil.copytree(workspace, folder, symlinks=True)
    for step in page.steps:
        where = f"{path.relative_to(ROOT)}:{step.line}"
        if step.skip is not None:
            continue  # reported by test_not_runnable_blocks
        program = program_of(step.command)
        assert program in PROGRAMS, (
            f"{where}: '{program}' is not run by the docs test; mark the block with "
            "<!-- docs-test: skip REASON -->"
        )
        result = run(step.command, folder)
        output = f"$ {step.command}\n{result.stdout}\n{result.stderr}"
        if step.expect_error is not None:
            assert result.returncode == 2, f"{where}: expected exit code 2\n{output}"
            message = step.expect_error.removeprefix("skelkit: error:").strip()
            assert message in " ".join(result.stderr.split()), f"{where}: other error\n{output}"
        else:
            assert result.returncode == 0, f"{where}: exit code {result.returncode}\n{output}"


SKIPPED = [
    (path, step) for path in PAGES for step in parse_page(path).steps if step.skip is not None
]


@pytest.mark.parametrize(
    ("path", "step"),
    SKIPPED,
    ids=[f"{p.relative_to(DOCS)}:{s.line}" for p, s in SKIPPED],
)
def test_not_runnable_blocks(path: Path, step: Step) -> None:
    """Each block marked as not runnable shows up as a skip with its reason."""
    assert step.skip
    pytest.skip(f"{path.relative_to(ROOT)}:{step.line}: {step.skip}")
