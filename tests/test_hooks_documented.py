"""Meta-tests: every hook has a docstring and a section with an example in docs/plugins.md."""

from __future__ import annotations

import inspect
import re

import pytest

from skelkit import hookspecs
from tests.conftest import ROOT

HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if name.startswith("skelkit_") and inspect.isfunction(fn)
)


def test_there_are_hooks() -> None:
    assert "skelkit_maskers" in HOOKS
    assert "skelkit_commands" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc.split()) >= 8, f"{hook} needs a docstring describing its contract"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_example(hook: str) -> None:
    text = (ROOT / "docs" / "plugins.md").read_text()
    argnames = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    heading = f"### {hook}({', '.join(argnames)})"
    assert heading in text, f"docs/plugins.md lacks a '{heading}' section"
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    assert re.search(rf"def {hook}\(", section), f"the {hook} section needs an example"
