"""Pictures that teach shapes: tensors as labelled boxes, broadcasting as stretching, view against
permute in memory order, the cells cross-entropy picks, and the teacher-forcing shift.

Dim 0 (the batch, N) runs down the page, so an output and its target line up row by row. Every axis
is labelled with its name and size. A 1-d tensor (N,) is drawn as a column of round cells with no
column axis, so it never looks like an (N, 1) column of square cells with a column axis of size 1.
A 4-d tensor (N, C, H, W) is drawn as one sample's (C, H, W) volume, with N written beside it.
Tests read the figures' texts (their labels), never their pixels.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyBboxPatch, Rectangle

MAX_CELLS = 8  # larger dims are drawn cut, with an ellipsis
_COLOURS = ["#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc"]
_PICKED = "#e06666"


def _cells(size: int) -> list:
    """Indices to draw along an axis: all of them, or the first few, None (gap) and the last."""
    if size <= MAX_CELLS:
        return list(range(size))
    return list(range(MAX_CELLS - 2)) + [None, size - 1]


def _value_text(t: torch.Tensor, idx) -> str:
    v = t[idx].item()
    return str(int(v)) if not t.is_floating_point() else f"{v:.1f}"


def _shape_text(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ("," if t.dim() == 1 else "") + ")"


def _cell(ax, x, y, colour, round_=False, lw=0.6, hatch=None, alpha=1.0):
    if round_:   # a 1-d tensor's element: no column axis, so no square column
        ax.add_patch(FancyBboxPatch((x + 0.12, y + 0.12), 0.76, 0.76, boxstyle="round,pad=0.02,rounding_size=0.38",
                                    facecolor=colour, edgecolor="black", lw=lw, alpha=alpha))
    else:
        ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="black", lw=lw, hatch=hatch, alpha=alpha))


def _draw(ax, t: torch.Tensor, names: list, x0: float, colour: str, values: bool = True) -> float:
    """Draw one tensor with its left edge at x0; return its width. Every axis gets a label."""
    t = t.detach().cpu()
    shape = tuple(t.shape)
    if t.dim() == 0:
        _cell(ax, x0, -1, colour)
        ax.text(x0 + 0.5, -0.5, _value_text(t, ()), ha="center", va="center", fontsize=8)
        ax.text(x0 + 0.5, 0.15, "scalar: no axes", ha="center", va="bottom", fontsize=8, style="italic")
        return 1.0
    if t.dim() == 4:                                     # one sample's (C, H, W) volume, N beside it
        sample = t[0]
        rows, cols, depth = _cells(shape[2]), _cells(shape[3]), min(shape[1], 3)
        row_name, col_name, depth_name = names[2], names[3], names[1]
    else:
        sample = t
        rows = _cells(shape[0])
        cols = _cells(shape[-1]) if t.dim() >= 2 else [0]
        depth = min(shape[1], 3) if t.dim() == 3 else 1
        row_name, col_name, depth_name = names[0], names[-1], names[1] if t.dim() == 3 else None
    show_values = values and t.numel() <= 64 and t.dim() <= 2
    for layer in reversed(range(depth)):  # back layers offset up and right
        dx, dy = 0.25 * layer, 0.25 * layer
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                x, y = x0 + j + dx, -i - 1 + dy
                if r is None or c is None:
                    if layer == 0:
                        ax.text(x + 0.5, y + 0.5, "\u22ef" if c is None else "\u22ee", ha="center", va="center")
                    continue
                _cell(ax, x, y, colour, round_=t.dim() == 1)
                if layer == 0 and show_values:
                    idx = (r, c) if t.dim() == 2 else (r,)
                    ax.text(x + 0.5, y + 0.5, _value_text(sample, idx), ha="center", va="center", fontsize=7)
    width = len(cols) + 0.25 * (depth - 1)
    top = 0.25 * (depth - 1)
    # the rows' axis down the left, the columns' along the top, the depth up the right edge
    ax.annotate("", xy=(x0 - 0.3, -len(rows)), xytext=(x0 - 0.3, 0), arrowprops=dict(arrowstyle="->"))
    ax.text(x0 - 0.45, -len(rows) / 2, f"{row_name}={shape[names.index(row_name)]}", rotation=90, ha="right",
            va="center")
    if t.dim() >= 2:
        ax.annotate("", xy=(x0 + len(cols), top + 0.12), xytext=(x0, top + 0.12), arrowprops=dict(arrowstyle="->"))
        ax.text(x0 + len(cols) / 2, top + 0.2, f"{col_name}={shape[names.index(col_name)]}", ha="center",
                va="bottom")
    if depth_name is not None:
        d = names.index(depth_name)
        ax.annotate("", xy=(x0 + width + 0.05, top - 0.05), xytext=(x0 + len(cols) + 0.05, -0.05),
                    arrowprops=dict(arrowstyle="->"))
        ax.text(x0 + width + 0.15, top, f"{depth_name}={shape[d]}", ha="left", va="bottom", fontsize=8,
                style="italic")
    if t.dim() == 4:
        ax.text(x0 - 1.0, -len(rows) / 2, f"{names[0]}={shape[0]} \u00d7", rotation=90, ha="right",
                va="center", fontsize=9, weight="bold")
    return width


def _label_for(name: str, t: torch.Tensor) -> str:
    return f"{name}\n{_shape_text(t)} {str(t.dtype).replace('torch.', '')}"


def show_shapes(tensors: dict, axes: dict | None = None, title: str | None = None, values: bool = True):
    """Draw each tensor as a box of cells with named axes, side by side; return the figure.

    ``tensors`` maps a display name to a tensor; ``axes`` maps the same name to axis names
    such as "N C" (default: N, then d1, d2, ...). Every axis is labelled name=size.
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
        if len(set(names)) != len(names):
            raise ValueError(f"axes for {name!r} repeat a name: {' '.join(names)}")
        label = _label_for(name, t)
        grid_cols = t.shape[-1] if t.dim() >= 2 else 1
        cols = len(_cells(grid_cols)) + (0.5 if t.dim() >= 3 else 0) + (1.0 if t.dim() == 4 else 0)
        slot = max(cols, 0.42 * max(len(line) for line in label.split("\n")))  # wide labels never overlap
        left = x + 1.2 + (slot - cols) / 2 + (1.0 if t.dim() == 4 else 0)
        w = _draw(ax, t, names or ["()"], left, _COLOURS[k % len(_COLOURS)], values)
        n_rows = len(_cells(t.shape[2] if t.dim() == 4 else t.shape[0])) if t.dim() else 1
        lowest = max(lowest, n_rows)
        ax.text(left + w / 2, -n_rows - 0.6, label, ha="center", va="top", fontsize=9, family="monospace")
        x += slot + 2.2
    _finish(fig, ax, x, lowest, title)
    return fig


def _finish(fig, ax, width: float, lowest: float, title: str | None, extra_below: float = 0.0):
    fig.set_size_inches(min(16.0, 0.42 * width + 0.8), 0.42 * (lowest + 3.8 + extra_below) + 0.4)
    ax.set_xlim(-0.2, width)
    ax.set_ylim(-lowest - 2.2 - extra_below, 1.8)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()


def _grid(ax, values: torch.Tensor, x0: float, y0: float, colour: str, ghost=None, picked=None,
          fmt="{:.1f}", round_=False) -> None:
    """A 2-d grid of values with its top-left at (x0, y0); ghost cells (copies made by stretching) are
    hatched; picked cells are red."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            is_ghost = ghost is not None and bool(ghost[i, j])
            is_picked = picked is not None and bool(picked[i, j])
            _cell(ax, x0 + j, y0 - i - 1, _PICKED if is_picked else colour, hatch="///" if is_ghost else None,
                  alpha=0.55 if is_ghost else 1.0, round_=round_)
            v = values[i, j].item()
            ax.text(x0 + j + 0.5, y0 - i - 0.5, fmt.format(v) if values.is_floating_point() else str(int(v)),
                    ha="center", va="center", fontsize=7, color="white" if is_picked else "black")


def show_broadcast(a: torch.Tensor, b: torch.Tensor, names=("a", "b"), op: str = "-", title: str | None = None):
    """Broadcasting as stretching: each input is stretched (hatched copies) to the common shape,
    then combined cell by cell. For (N, 1) against (N,) the result is (N, N): every output meets
    every target. Works for 1-d and 2-d inputs that broadcast to a 2-d shape of at most 8 x 8."""
    out_shape = torch.broadcast_shapes(a.shape, b.shape)
    if len(out_shape) != 2 or max(out_shape) > MAX_CELLS:
        raise ValueError(f"show_broadcast draws 2-d results up to {MAX_CELLS} x {MAX_CELLS}; "
                         f"{tuple(a.shape)} and {tuple(b.shape)} broadcast to {tuple(out_shape)}")
    fig, ax = plt.subplots()
    x, rows = 0.0, out_shape[0]
    parts = []
    for name, t, colour in ((names[0], a, _COLOURS[0]), (names[1], b, _COLOURS[1])):
        t2 = t.detach().reshape((1,) * (2 - t.dim()) + tuple(t.shape))      # (N,) is read as (1, N)
        stretched = t2.expand(out_shape)
        ghost = torch.ones(out_shape, dtype=torch.bool)
        ghost[:t2.shape[0], :t2.shape[1]] = False
        _grid(ax, stretched, x, 0, colour, ghost=ghost)
        how = []
        if t.dim() == 1:
            how.append(f"{_shape_text(t)} is read as (1, {t.shape[0]})")
        if t2.shape[0] == 1 and out_shape[0] > 1:
            how.append(f"copied down to {out_shape[0]} rows")
        if t2.shape[1] == 1 and out_shape[1] > 1:
            how.append(f"copied across to {out_shape[1]} columns")
        ax.text(x + out_shape[1] / 2, 0.25, f"{name} {_shape_text(t)}", ha="center", va="bottom",
                family="monospace", fontsize=9)
        ax.text(x + out_shape[1] / 2, -rows - 0.4, "\n".join(how) or "not stretched", ha="center", va="top",
                fontsize=8, style="italic")
        parts.append(stretched)
        x += out_shape[1] + 1.5
        ax.text(x - 0.75, -rows / 2, op if name == names[0] else "=", ha="center", va="center", fontsize=14)
    result = {"-": torch.sub, "+": torch.add, "*": torch.mul, "==": torch.eq}[op](*parts)
    _grid(ax, result.float() if result.dtype == torch.bool else result, x, 0, _COLOURS[2])
    ax.text(x + out_shape[1] / 2, 0.25, f"result {_shape_text(result)}", ha="center", va="bottom",
            family="monospace", fontsize=9)
    ax.text(x + out_shape[1] / 2, -rows - 0.4, f"{out_shape[0] * out_shape[1]} cells", ha="center", va="top",
            fontsize=8, style="italic")
    _finish(fig, ax, x + out_shape[1] + 0.5, rows, title, extra_below=1.5)
    return fig


def show_memory_order(x: torch.Tensor, new_shape, permutation, title: str | None = None):
    """view/reshape against permute: the same values in memory order, read into a new shape by
    `x.view(new_shape)` (the order in memory is kept, the axes' meaning is not) and by
    `x.permute(permutation)` (each value keeps its axes, moved). x must be 2-d, at most 8 x 8."""
    if x.dim() != 2 or max(x.shape) > MAX_CELLS:
        raise ValueError("show_memory_order draws a 2-d tensor of at most 8 x 8")
    values = torch.arange(x.numel()).reshape(x.shape)               # each value shows its place in memory
    viewed, permuted = values.reshape(new_shape), values.permute(*permutation)
    fig, ax = plt.subplots()
    pos = 0.0
    for label, t in ((f"x {_shape_text(x)}", values), (f"memory order ({x.numel()},)", values.reshape(1, -1)),
                     (f"x.view{tuple(new_shape)}", viewed), (f"x.permute{tuple(permutation)}", permuted)):
        t2 = t.reshape(1, -1) if t.dim() == 1 else t
        _grid(ax, t2, pos, 0, _COLOURS[0] if "memory" not in label else _COLOURS[4], fmt="{:.0f}")
        ax.text(pos + t2.shape[1] / 2, 0.25, label, ha="center", va="bottom", family="monospace", fontsize=9)
        pos += t2.shape[1] + 1.5
    same = torch.equal(viewed, permuted) if viewed.shape == permuted.shape else False
    ax.text(0, -max(x.shape) - 1.0, ("the two agree" if same else "same shape, different cells: view keeps the "
                                     "memory order, permute keeps each value's axes") if viewed.shape ==
            permuted.shape else "different shapes", ha="left", va="top", fontsize=9, style="italic")
    _finish(fig, ax, pos, max(x.shape), title, extra_below=1.0)
    return fig


def show_picked(logits: torch.Tensor, y: torch.Tensor, title: str | None = None):
    """Cross-entropy as an index pick: log_softmax of each row of logits (N, C), the cell of class
    y[n] in red in each row, and the loss as the mean of minus the picked cells."""
    if logits.dim() != 2 or y.shape != (logits.shape[0],) or max(logits.shape) > MAX_CELLS:
        raise ValueError("show_picked draws (N, C) logits with (N,) class ids, N and C at most 8")
    logp = logits.detach().log_softmax(dim=1)                                    # (N, C)
    picked = torch.zeros_like(logp, dtype=torch.bool)
    picked[torch.arange(len(y)), y] = True
    fig, ax = plt.subplots()
    N, C = logp.shape
    _grid(ax, logp, 0, 0, _COLOURS[0], picked=picked)
    ax.text(0, 0.25, f"log_softmax(logits, dim=1) {_shape_text(logp)}", ha="left", va="bottom",
            family="monospace", fontsize=9)
    for n in range(N):
        ax.text(C + 0.3, -n - 0.5, f"y[{n}] = {int(y[n])}", ha="left", va="center", fontsize=8,
                family="monospace")
    loss = float(-logp[picked].mean())
    ax.text(0, -N - 0.5, f"loss = mean of minus the {N} red cells = {loss:.3f}", ha="left", va="top", fontsize=9)
    _finish(fig, ax, max(C + 3.5, 16.0), N, title, extra_below=1.0)
    return fig


def show_teacher_forcing(tgt: torch.Tensor, title: str | None = None):
    """The teacher-forcing shift for one target sequence (T,) or a batch (N, T): the decoder reads
    tgt[:, :-1] and learns to predict tgt[:, 1:], each step the token after the one it read."""
    t = tgt.detach().reshape(-1, tgt.shape[-1])[:1]                              # first sequence, (1, T)
    T = t.shape[1]
    if T > MAX_CELLS + 2:
        raise ValueError(f"show_teacher_forcing draws sequences of at most {MAX_CELLS + 2} tokens")
    fig, ax = plt.subplots()
    _grid(ax, t[:, :-1], 0, 0, _COLOURS[0])
    ax.text(0, 0.25, "decoder input  tgt[:, :-1]", ha="left", va="bottom", family="monospace", fontsize=9)
    _grid(ax, t[:, 1:], 0, -2.5, _COLOURS[1])
    ax.text(0, -3.7, "loss target  tgt[:, 1:]", ha="left", va="top", family="monospace", fontsize=9)
    for j in range(T - 1):
        ax.annotate("", xy=(j + 0.5, -2.3), xytext=(j + 0.5, -1.0), arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.text(T, -1.6, "step t reads token t,\npredicts token t+1", ha="left", va="center", fontsize=8,
            style="italic")
    _finish(fig, ax, T + 6.5, 3.5, title)
    return fig


RULES = {
    "class-ids": "class-id target = the input's shape without the class axis (dim 1), int64",
    "same-shape": "value target = exactly the input's shape, float",
}


def show_contract(loss, input_shape, axes: str | None = None, title: str | None = None):
    """The contract card of a loss for one input shape: the input and every target form it accepts,
    drawn with named axes, and the rule in one line (from tp.contract_for). The two rules of the whole
    course: class-id targets are the input's shape without dim 1; value targets are the input's shape."""
    from .contracts import contract_for, expected_target_shapes

    c = contract_for(loss)
    shape = tuple(input_shape)
    names = (axes or " ".join(["N", "C", "d1", "d2", "d3"][:len(shape)])).split()
    if len(names) != len(shape):
        raise ValueError(f"axes name {len(names)} dims but the input has {len(shape)}: {shape}")
    tensors = {f"input ({c.input_is})": torch.zeros(shape)}
    axis_names = {f"input ({c.input_is})": " ".join(names)}
    for form, target_shape in expected_target_shapes(c, shape).items():
        if not all(isinstance(s, int) for s in target_shape):
            continue
        dtype = torch.int64 if form == "class ids" else torch.float32
        key = f"target: {form}"
        tensors[key] = torch.zeros(target_shape, dtype=dtype)
        kept = names[:1] + names[2:] if form == "class ids" else names
        axis_names[key] = " ".join(kept)
    fig = show_shapes(tensors, axes=axis_names, title=title or f"{c.name}: {RULES.get(c.family, c.describe())}",
                      values=False)
    return fig
