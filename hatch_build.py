"""Build hook: compile the optional C reader of NTU ``.skeleton`` text into the wheel.

``skelkit/data/_ntu_scan.c`` reads the plain (distributed) ``.skeleton`` files many times
faster than NumPy can. Without a C compiler the wheel is built without it and skelkit uses
its pure-Python readers, which give the same results.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "skelkit.data._ntu_scan"
SOURCE = "skelkit/data/_ntu_scan.c"


@contextmanager
def _working_directory(path: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def compile_extension(root: str) -> Path:
    """Compile the extension next to its source (in place); return the built file's path."""
    from setuptools import Distribution, Extension  # type: ignore[import-untyped,unused-ignore]

    # float arithmetic must round every operation as NumPy does: no fused multiply-add
    flags = ["/fp:precise"] if sys.platform == "win32" else ["-ffp-contract=off"]
    extension = Extension(EXTENSION, [SOURCE], extra_compile_args=flags)
    with _working_directory(root), tempfile.TemporaryDirectory() as temp:
        distribution = Distribution({"name": "skelkit", "ext_modules": [extension]})
        command: Any = distribution.get_command_obj("build_ext")
        command.inplace = True
        command.build_temp = temp
        command.ensure_finalized()
        command.run()
        return Path(root) / command.get_ext_fullpath(EXTENSION)


class ExtensionBuildHook(BuildHookInterface):  # type: ignore[misc,unused-ignore]
    """Adds the compiled reader to the wheel (a platform wheel), or warns and goes on."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile before the wheel is assembled; skip for other targets."""
        if self.target_name != "wheel" or os.environ.get("SKELKIT_NO_EXTENSION"):
            return
        try:
            built = compile_extension(self.root)
        except Exception as exc:  # no compiler, no headers: the pure-Python reader is used
            self.app.display_warning(
                f"skelkit: the C reader of .skeleton files was not built ({exc}); "
                "preprocessing uses the slower pure-Python reader"
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from the source tree
            relative = built.relative_to(self.root).as_posix()
            build_data["force_include"][str(built)] = relative
