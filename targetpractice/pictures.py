"""Shape pictures: tensors drawn as labelled boxes with named axes, side by side.

Dim 0 (the batch, N) always runs down the page, so an output and its target line up
row by row; a missing or extra axis is visible at a glance.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

MAX_CELLS = 8  # larger dims are drawn cut, with an ellipsis
_COLOURS = ["#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc"]


def _cells(size: int) -> list:
    """Indices to draw along an axis: all of them, or the first few, None (gap) and the last."""
    if size <= MAX_CELLS:
        return list(range(size))
    return list(range(MAX_CELLS - 2)) + [None, size - 1]


def _value_text(t: torch.Tensor, idx) -> str:
    v = t[idx].item()
    return str(int(v)) if not t.is_floating_point() else f"{v:.1f}"


def _draw(ax, t: torch.Tensor, names: list, x0: float, colour: str) -> float:
    """Draw one tensor with its left edge at x0; return its width."""
    t = t.detach().cpu()
    shape = tuple(t.shape)
    if t.dim() == 0:
        ax.add_patch(Rectangle((x0, -1), 1, 1, facecolor=colour, edgecolor="black"))
        ax.text(x0 + 0.5, -0.5, _value_text(t, ()), ha="center", va="center", fontsize=8)
        return 1.0
    rows = _cells(shape[0])
    cols = _cells(shape[-1]) if t.dim() >= 2 else [0]
    depth = min(shape[1], 3) if t.dim() == 3 else (1 if t.dim() <= 2 else 3)
    show_values = t.numel() <= 64 and t.dim() <= 2
    for layer in reversed(range(depth)):  # back layers offset up and right
        dx, dy = 0.25 * layer, 0.25 * layer
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                x, y = x0 + j + dx, -i - 1 + dy
                if r is None or c is None:
                    if layer == 0:
                        ax.text(x + 0.5, y + 0.5, "\u22ef" if c is None else "\u22ee", ha="center", va="center")
                    continue
                ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="black", lw=0.6))
                if layer == 0 and show_values:
                    idx = (r, c) if t.dim() == 2 else (r,)
                    ax.text(x + 0.5, y + 0.5, _value_text(t, idx), ha="center", va="center", fontsize=7)
    width = len(cols) + 0.25 * (depth - 1)
    # axis labels: dim 0 down the left, the last dim along the top, a middle dim as depth
    ax.annotate("", xy=(x0 - 0.3, -len(rows)), xytext=(x0 - 0.3, 0), arrowprops=dict(arrowstyle="->"))
    ax.text(x0 - 0.45, -len(rows) / 2, f"{names[0]}={shape[0]}", rotation=90, ha="right", va="center")
    if t.dim() >= 2:
        ax.text(x0 + len(cols) / 2, 0.15 + 0.25 * (depth - 1), f"{names[-1]}={shape[-1]}", ha="center",
                va="bottom")
    if t.dim() == 3:
        ax.text(x0 + width, 0.2 + 0.25 * (depth - 1), f"{names[1]}={shape[1]}", ha="left", va="bottom",
                fontsize=8, style="italic")
    return width


def show_shapes(tensors: dict, axes: dict | None = None, title: str | None = None):
    """Draw each tensor as a box of cells with named axes, side by side; return the figure.

    ``tensors`` maps a display name to a tensor; ``axes`` maps the same name to axis names
    such as "N C" (default: N, then d1, d2, ...).
    """
    axes = axes or {}
    fig, ax = plt.subplots()
    x = 0.0
    lowest = 0
    for k, (name, t) in enumerate(tensors.items()):
        names = (axes[name] if name in axes else " ".join(["N"] + [f"d{i}" for i in range(1, t.dim())])).split()
        if len(names) != t.dim():
            raise ValueError(f"axes for {name!r} name {len(names)} dims but the tensor has {t.dim()}: "
                             f"{tuple(t.shape)}")
        dtype = str(t.dtype).replace("torch.", "")
        shape = "(" + ", ".join(map(str, t.shape)) + ("," if t.dim() == 1 else "") + ")"
        label = f"{name}\n{shape} {dtype}"
        cols = (len(_cells(t.shape[-1])) if t.dim() >= 2 else 1) + (0.5 if t.dim() == 3 else 0)
        slot = max(cols, 0.42 * max(len(line) for line in label.split("\n")))  # wide labels never overlap
        left = x + 1.2 + (slot - cols) / 2
        w = _draw(ax, t, names or ["()"], left, _COLOURS[k % len(_COLOURS)])
        n_rows = len(_cells(t.shape[0])) if t.dim() else 1
        lowest = max(lowest, n_rows)
        ax.text(left + w / 2, -n_rows - 0.6, label, ha="center", va="top", fontsize=9, family="monospace")
        x += slot + 2.2
    fig.set_size_inches(min(16.0, 0.42 * x + 0.8), 0.42 * (lowest + 3.8) + 0.4)
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-lowest - 2.2, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
