"""Evaluation reports: ``metrics.json``, plots, the summary table and run comparisons.

``metrics.json`` holds the protocol, the data (dataset, split), the checkpoint and where it
was pretrained, the final epoch's top-1 / top-5, and the best epoch's, labelled as selected
on the test set (the papers report it that way; it is optimistic), per-class accuracy and
the confusion matrix. Several runs (``semi``) report their mean and standard deviation.
The plots need matplotlib (the ``viz`` extra); without it they are skipped with a note.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import skelkit
from skelkit.errors import DataError

BEST_NOTE = "best epoch selected on the test set, as the papers report (optimistic)"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def _epoch_view(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "epoch": record.get("epoch"),
        "top1": record.get("top1"),
        "top5": record.get("top5"),
        "loss": record.get("loss"),
    }


def build_metrics(
    job: Any, settings: Any, runs: Sequence[Mapping[str, Any]], pretrained: Mapping[str, Any]
) -> dict[str, Any]:
    """The content of ``metrics.json`` for the finished ``runs`` of a protocol."""
    data = job.data
    names = list(data.class_names) or [str(c) for c in range(data.num_classes)]
    names += [str(c) for c in range(len(names), data.num_classes)]
    first = runs[0]
    final, best = _epoch_view(first["final"]), _epoch_view(first["best"])
    confusion = [[0] * data.num_classes for _ in range(data.num_classes)]
    for run in runs:
        for i, row in enumerate(run["final"]["confusion"]):
            for j, value in enumerate(row):
                confusion[i][j] += int(value)
    per_class = {
        names[c]: (100.0 * confusion[c][c] / sum(confusion[c]) if sum(confusion[c]) else None)
        for c in range(data.num_classes)
    }
    metrics: dict[str, Any] = {
        "protocol": settings.name,
        "dataset": data.dataset_name,
        "recipe": data.recipe,
        "split": data.split,
        "train_part": data.train_part,
        "test_part": data.test_part,
        "data_file": str(data.path),
        "checkpoint": str(job.checkpoint_path),
        "pretrained_on": dict(pretrained),
        "init": settings.init,
        "num_classes": data.num_classes,
        "train_samples": first["train_samples"],
        "test_samples": data.test_size,
        "final": final,
        "best": {**best, "selected_on": "test", "note": BEST_NOTE},
        "per_class": per_class,
        "confusion": confusion,
        "runs": [
            {
                "run": run["run"],
                "seed": run["seed"],
                "train_samples": run["train_samples"],
                "final_top1": run["final"]["top1"],
                "final_top5": run["final"]["top5"],
                "best_top1": run["best"]["top1"],
                "best_epoch": run["best"]["epoch"],
            }
            for run in runs
        ],
        "throughput": {
            key: first[key]
            for key in ("train_samples_per_s", "feature_samples_per_s", "features_cached")
            if first.get(key) is not None
        },
        "settings": settings.as_dict(),
        "world_size": job.env.world_size,
        "skelkit_version": skelkit.__version__,
    }
    if len(runs) > 1:
        summary: dict[str, Any] = {}
        for key in ("final_top1", "final_top5", "best_top1"):
            mean, std = _mean_std([float(r[key]) for r in metrics["runs"]])
            summary[key] = {"mean": mean, "std": std}
        metrics["over_runs"] = summary
    metrics["history"] = [rec for run in runs for rec in run.get("history", [])]
    return metrics


def write_report(files: Any, metrics: Mapping[str, Any], console: Console) -> list[Path]:
    """Write ``metrics.json`` and the plots; print the summary table. Returns the files."""
    files.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    written = [files.metrics]
    plots = write_plots(files, metrics)
    if plots is None:
        console.print(
            "note: matplotlib is not installed, confusion.png and curves.png were skipped "
            "(pip install 'skelkit[viz]')"
        )
    else:
        written += plots
    console.print(summary_table(metrics))
    return written


def write_plots(files: Any, metrics: Mapping[str, Any]) -> list[Path] | None:
    """``confusion.png`` and (with epochs) ``curves.png``; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    written = []
    confusion = metrics["confusion"]
    rows = [[v / max(sum(row), 1) for v in row] for row in confusion]
    size = min(4 + 0.12 * len(rows), 16)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{metrics['protocol']} on {metrics['dataset']} {metrics['split']} (final epoch)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(files.confusion, dpi=100)
    plt.close(fig)
    written.append(files.confusion)
    history = metrics.get("history") or []
    if history:
        fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
        for run in sorted({int(r.get("run", 0)) for r in history}):
            recs = [r for r in history if int(r.get("run", 0)) == run]
            epochs = [r["epoch"] for r in recs]
            tag = f" (run {run + 1})" if len({int(r.get("run", 0)) for r in history}) > 1 else ""
            loss_ax.plot(epochs, [r["train_loss"] for r in recs], label=f"train{tag}")
            loss_ax.plot(epochs, [r["test_loss"] for r in recs], "--", label=f"test{tag}")
            acc_ax.plot(epochs, [r["train_top1"] for r in recs], label=f"train top-1{tag}")
            acc_ax.plot(epochs, [r["test_top1"] for r in recs], "--", label=f"test top-1{tag}")
        loss_ax.set_xlabel("epoch")
        loss_ax.set_ylabel("cross-entropy")
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy (%)")
        loss_ax.legend(loc="upper right")
        acc_ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(files.curves, dpi=100)
        plt.close(fig)
        written.append(files.curves)
    return written


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.2f}"


def summary_table(metrics: Mapping[str, Any]) -> Table:
    """A rich table of one evaluation's results."""
    table = Table(title=f"skelkit evaluate {metrics['protocol']}", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    origin = metrics.get("pretrained_on") or {}
    table.add_row("data", f"{metrics['dataset']} {metrics['split']} ({metrics['recipe']})")
    table.add_row("checkpoint", str(metrics["checkpoint"]))
    table.add_row(
        "pretrained on",
        f"{origin.get('dataset') or '?'} ({origin.get('method') or '?'}, "
        f"epoch {origin.get('epoch')}), init {metrics['init']}",
    )
    table.add_row("samples", f"{metrics['train_samples']} train / {metrics['test_samples']} test")
    final, best = metrics["final"], metrics["best"]
    table.add_row(
        "final epoch",
        f"top-1 {_pct(final['top1'])}%  top-5 {_pct(final['top5'])}%  (epoch {final['epoch']})",
    )
    table.add_row(
        "best epoch*",
        f"top-1 {_pct(best['top1'])}%  top-5 {_pct(best['top5'])}%  (epoch {best['epoch']})",
    )
    over = metrics.get("over_runs")
    if over:
        for key, label in (("final_top1", "final top-1"), ("best_top1", "best top-1*")):
            table.add_row(
                f"{label}, {len(metrics['runs'])} runs",
                f"{over[key]['mean']:.2f} ± {over[key]['std']:.2f}%",
            )
    for key, value in (metrics.get("throughput") or {}).items():
        table.add_row(key.replace("_", " "), str(value))
    table.caption = f"* {BEST_NOTE}"
    return table


# -- comparing runs (skelkit report) -------------------------------------------------------


def load_metrics(run_dir: Path) -> dict[str, Any]:
    """Read ``RUN_DIR/metrics.json`` (or a metrics.json path)."""
    path = run_dir / "metrics.json" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise DataError(
            f"'{run_dir}' has no metrics.json; pass the --out folder of a finished "
            "'skelkit evaluate' run"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); the file is damaged") from exc
    if not isinstance(data, dict) or "protocol" not in data or "final" not in data:
        raise DataError(f"{path}: not a skelkit evaluation report (no 'protocol'/'final')")
    return data


COLUMNS = ("run", "protocol", "data", "pretrained on", "init", "top-1", "top-5", "best top-1*")


def comparison_rows(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> list[list[str]]:
    """One row of :data:`COLUMNS` per (name, metrics)."""
    rows = []
    for name, m in reports:
        origin = m.get("pretrained_on") or {}
        over = m.get("over_runs")
        if over:
            top1 = f"{over['final_top1']['mean']:.2f} ± {over['final_top1']['std']:.2f}"
            top5 = f"{over['final_top5']['mean']:.2f} ± {over['final_top5']['std']:.2f}"
            best = f"{over['best_top1']['mean']:.2f} ± {over['best_top1']['std']:.2f}"
        else:
            top1, top5 = _pct(m["final"].get("top1")), _pct(m["final"].get("top5"))
            best = f"{_pct(m['best'].get('top1'))} (ep {m['best'].get('epoch')})"
        rows.append(
            [
                name,
                str(m["protocol"]),
                f"{m.get('dataset')} {m.get('split')}",
                f"{origin.get('dataset') or '?'} ({origin.get('method') or '?'})",
                str(m.get("init", "pretrained")),
                top1,
                top5,
                best,
            ]
        )
    return rows


def comparison_table(reports: Sequence[tuple[str, Mapping[str, Any]]], title: str = "") -> Table:
    """Runs side by side as a rich table."""
    table = Table(title=title or None, caption=f"* {BEST_NOTE}")
    for column in COLUMNS:
        table.add_column(column, justify="right" if "top" in column else "left")
    for row in comparison_rows(reports):
        table.add_row(*row)
    return table


def comparison_markdown(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Runs side by side as a GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---:" if "top" in c else "---" for c in COLUMNS) + "|",
    ]
    for row in comparison_rows(reports):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines.append("")
    lines.append(f"\\* {BEST_NOTE}")
    return "\n".join(lines) + "\n"
