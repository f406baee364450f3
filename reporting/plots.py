"""The report's figures, drawn with matplotlib into PNG bytes.

Uses matplotlib's object API (`Figure`, no pyplot): no global state, no
display, the same in a Kubeflow container as on a laptop. Every function takes
plain numbers (see reporting.evaluation_data) and returns PNG bytes.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

DPI = 100
CANDIDATE_COLOR = "#1f6fb2"
BASELINE_COLOR = "#9a9a9a"


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, bbox_inches="tight")
    return out.getvalue()


def _text_as_written(draw):
    """Draws with matplotlib's math parsing off: it reads `$...$` in any label
    as TeX (class names and feature values are other people's; `$\\x$` would
    even fail to draw), so every label, legend and title shows what it holds."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs) -> bytes:
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


@_text_as_written
def confusion_matrix(counts: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """Heat map coloured by row share (recall per cell), annotated with counts."""
    n = counts.shape[0]
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    fig = Figure(figsize=(1.0 + 0.5 * n, 0.6 + 0.5 * n))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for a in range(n):
        for p in range(n):
            if counts[a, p]:
                color = "white" if share[a, p] > 0.6 else ("#b00020" if a != p else "black")
                ax.text(
                    p, a, f"{counts[a, p]:g}", ha="center", va="center", fontsize=8, color=color
                )
    labels = [str(name) for name in class_names]
    ax.set_xticks(range(n), labels, rotation=90 if max(map(len, labels), default=0) > 3 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("actual class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of actual class")
    return _png(fig)


@_text_as_written
def roc_curves(curves: dict, title: str) -> bytes:
    """One-vs-rest ROC curve per class; `curves[name] = (fpr, tpr, auc)`."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    colors = [f"C{i}" for i in range(10)]
    for i, (name, (fpr, tpr, auc)) in enumerate(curves.items()):
        label = f"{name} (AUC {auc:.3f})" if auc is not None else str(name)
        ax.plot(fpr, tpr, color=colors[i % 10], linewidth=1.4, label=label)
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle="--", linewidth=1)
    ax.set_xlim(-0.01, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(title="class", fontsize=7, title_fontsize=8, loc="lower right", ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)


@_text_as_written
def calibration(
    bins, ece: float | None, title: str, baseline_bins=None, baseline_ece: float | None = None
) -> bytes:
    """Reliability diagram of the top-label confidence, with bin counts below."""
    fig = Figure(figsize=(6.4, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(
        [0, 1], [0, 1], color="#bbbbbb", linestyle="--", linewidth=1, label="perfect calibration"
    )

    def draw(data, color, name, value, offset):
        if not data:
            return
        width = (data[0].upper - data[0].lower) * 0.4
        centers = [(b.lower + b.upper) / 2 + offset * width for b in data]
        label = name + (f" (ECE {value:.3f})" if value is not None else "")
        top.bar(
            centers, [b.accuracy for b in data], width=width, color=color, alpha=0.8, label=label
        )
        top.plot(
            [(b.lower + b.upper) / 2 + offset * width for b in data],
            [b.confidence for b in data],
            linestyle="none",
            marker="_",
            markersize=12,
            color="black",
        )
        bottom.bar(centers, [b.examples for b in data], width=width, color=color, alpha=0.8)

    if baseline_bins:
        draw(bins, CANDIDATE_COLOR, "candidate", ece, -0.5)
        draw(baseline_bins, BASELINE_COLOR, "baseline", baseline_ece, 0.5)
    else:
        draw(bins, CANDIDATE_COLOR, "candidate", ece, 0.0)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy in bin (bar)\nmean confidence (tick)")
    top.set_title(title, fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_xlabel("top-class probability (confidence)")
    bottom.set_ylabel("examples")
    bottom.grid(alpha=0.3)
    return _png(fig)


@_text_as_written
def distributions(panels: list, title: str) -> bytes:
    """Side-by-side bar charts of value shares per split.

    `panels` is a list of (feature, {split: {value: count}}, exact).
    """
    fig = Figure(figsize=(4.2 * max(len(panels), 1), 3.6))
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for ax, (feature, counts, exact) in zip(axes, panels):
        values = sorted(
            {v for per in counts.values() for v in per},
            key=lambda v: (
                not str(v).lstrip("-").isdigit(),
                int(v) if str(v).lstrip("-").isdigit() else 0,
                str(v),
            ),
        )
        splits = list(counts)
        width = 0.8 / max(len(splits), 1)
        for i, split in enumerate(splits):
            total = sum(counts[split].values()) or 1
            shares = [100.0 * counts[split].get(v, 0) / total for v in values]
            ax.bar(
                np.arange(len(values)) + (i - (len(splits) - 1) / 2) * width,
                shares,
                width=width,
                label=f"{split} (n={total:g})",
                color=f"C{i}",
            )
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_ylabel("% of split")
        ax.set_title(feature + ("" if exact else " (approx. counts)"), fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _png(fig)
