"""Draw skeleton sequences (``skelkit viz``): a PNG grid of frames or an animated GIF.

Joints are projected on the camera's x-y plane (y up), the bones of
:data:`skelkit.data.skeleton.BONES` are drawn for every person present in a frame, each
person in its own colour. matplotlib (the ``viz`` extra) renders off-screen, without
pyplot, so drawing never opens a window or touches the user's matplotlib backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skelkit.data.skeleton import BONES
from skelkit.errors import ConfigError, DataError

#: One colour per person (matplotlib's first two default colours).
PERSON_COLORS = ("#1f77b4", "#ff7f0e")
#: Frames drawn in a PNG grid when none are chosen.
DEFAULT_GRID_FRAMES = 8
#: Most frames in a GIF (longer sequences are subsampled evenly).
MAX_GIF_FRAMES = 300
FORMATS = (".png", ".gif")

_ITEM = re.compile(r"^(-?\d+)?(?::(-?\d+)?(?::(\d+))?)?$")


def parse_frames(spec: str, length: int) -> list[int]:
    """Frame indices from a spec like ``0,10,20`` or ``0:60:10`` (Python slices, mixable).

    Raises:
        ConfigError: malformed spec, an index outside the sequence, or no frame selected.
    """
    chosen: list[int] = []
    for raw in spec.split(","):
        item = raw.strip()
        match = _ITEM.match(item)
        if not item or match is None:
            raise ConfigError(
                f"--frames {spec!r}: {item!r} is not a frame number or a start:stop:step range"
            )
        if ":" not in item:
            index = int(item)
            if not -length <= index < length:
                raise ConfigError(
                    f"--frames {spec!r}: frame {index} is outside the sample's {length} frames"
                )
            chosen.append(index % length)
            continue
        start, stop, step = (int(g) if g else None for g in match.groups())
        if step == 0:
            raise ConfigError(f"--frames {spec!r}: the step of {item!r} must be positive")
        chosen.extend(range(length)[slice(start, stop, step)])
    if not chosen:
        raise ConfigError(f"--frames {spec!r} selects no frame of the sample's {length} frames")
    return chosen


def default_frames(length: int, fmt: str) -> list[int]:
    """Evenly spaced frames: a few for a PNG grid, all (at most 300) for a GIF."""
    count = DEFAULT_GRID_FRAMES if fmt == ".png" else MAX_GIF_FRAMES
    if length <= count:
        return list(range(length))
    return np.linspace(0, length - 1, count).round().astype(int).tolist()


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "skelkit viz needs matplotlib, which is not installed; "
            "install the viz extra: pip install 'skelkit[viz]'"
        ) from None
    return Figure, FigureCanvasAgg


def _present(frames: np.ndarray) -> np.ndarray:
    """``(T, M)``: whether person ``m`` has any non-zero joint in frame ``t``."""
    return np.abs(frames).reshape(frames.shape[0], frames.shape[1], -1).sum(-1) > 0


def _limits(frames: np.ndarray, present: np.ndarray) -> tuple[float, float, float, float]:
    points = frames[present][..., :2].reshape(-1, 2)
    if len(points) == 0:
        return -1.0, 1.0, -1.0, 1.0
    low, high = points.min(0), points.max(0)
    centre, half = (low + high) / 2.0, max(float((high - low).max()) / 2.0, 0.1) * 1.1
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def _draw(axes: Any, frame: np.ndarray, present: np.ndarray, limits: Sequence[float]) -> None:
    for person in range(frame.shape[0]):
        if not present[person]:
            continue
        joints = frame[person]
        color = PERSON_COLORS[person % len(PERSON_COLORS)]
        for joint, parent in BONES:
            axes.plot(
                [joints[joint, 0], joints[parent, 0]],
                [joints[joint, 1], joints[parent, 1]],
                color=color,
                linewidth=1.5,
            )
        axes.scatter(joints[:, 0], joints[:, 1], s=6, color=color, zorder=3)
    axes.set_xlim(limits[0], limits[1])
    axes.set_ylim(limits[2], limits[3])
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])


def render(
    frames: np.ndarray, out: Path, chosen: Sequence[int], title: str = "", fps: float = 15.0
) -> Path:
    """Draw ``frames`` (``(T, M, V, C)``, metres) at the ``chosen`` indices into ``out``.

    ``out`` ending in ``.png`` gets a grid of the chosen frames, ``.gif`` an animation of
    them at ``fps`` frames per second.

    Raises:
        ConfigError: an unsupported file type, or matplotlib is missing.
        DataError: ``out`` can not be written.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[-1] < 2:
        raise DataError(f"expected frames of shape (T, M, V, C>=2), got {frames.shape}")
    fmt = out.suffix.lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--out {out}: write a .png (frame grid) or a .gif (animation)")
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    figure_cls, canvas_cls = _matplotlib()
    present = _present(frames)
    limits = _limits(frames, present)
    try:
        if fmt == ".png":
            _render_grid(figure_cls, canvas_cls, frames, present, limits, chosen, title, out)
        else:
            _render_gif(figure_cls, canvas_cls, frames, present, limits, chosen, title, out, fps)
    except OSError as exc:
        raise DataError(f"can not write {out}: {exc.strerror or exc}") from None
    return out


def _render_grid(
    figure_cls: Any,
    canvas_cls: Any,
    frames: np.ndarray,
    present: np.ndarray,
    limits: Sequence[float],
    chosen: Sequence[int],
    title: str,
    out: Path,
) -> None:
    columns = min(len(chosen), 4)
    rows = -(-len(chosen) // columns)
    figure = figure_cls(figsize=(2.6 * columns, 2.9 * rows), dpi=100)
    canvas_cls(figure)
    for k, index in enumerate(chosen):
        axes = figure.add_subplot(rows, columns, k + 1)
        _draw(axes, frames[index], present[index], limits)
        axes.set_title(f"frame {index}", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(out, format="png")


def _render_gif(
    figure_cls: Any,
    canvas_cls: Any,
    frames: np.ndarray,
    present: np.ndarray,
    limits: Sequence[float],
    chosen: Sequence[int],
    title: str,
    out: Path,
    fps: float,
) -> None:
    from PIL import Image

    figure = figure_cls(figsize=(4.0, 4.4), dpi=80)
    canvas = canvas_cls(figure)
    axes = figure.add_subplot(1, 1, 1)
    images = []
    for index in chosen:
        axes.clear()
        _draw(axes, frames[index], present[index], limits)
        axes.set_title(f"{title}  frame {index}".strip(), fontsize=9)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        images.append(
            Image.fromarray(rgba[..., :3].copy()).convert("P", palette=Image.Palette.ADAPTIVE)
        )
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000.0 / fps)),
        loop=0,
    )
