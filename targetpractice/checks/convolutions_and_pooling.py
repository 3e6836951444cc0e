"""Checks for topic 04, convolutions and pooling: image data and the model-output check."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..diagnosis import describe, explain_error, shape_str
from .core import CheckFailed, strict


def image_data(N: int = 64, C: int = 10, size: int = 32, seed: int = 0, noise: float = 0.5,
               channels_last: bool = False):
    """A tiny image classification set: X (N, 3, size, size) float32, y (N,) int64 in 0..C-1.

    Each class is a smooth colour pattern (a random 4 x 4 grid upsampled to size x size) plus
    noise, so a two-conv CNN learns it in a few dozen steps.  The labels are shuffled: the batch
    position says nothing about the class.  ``channels_last`` returns X as (N, size, size, 3).
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(C, 3, 4, 4, generator=g)                                 # (C, 3, 4, 4)
    patterns = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.randperm(N, generator=g) % C                                        # (N,)
    X = patterns[y] + noise * torch.randn(N, 3, size, size, generator=g)          # (N, 3, H, W)
    return (X.permute(0, 2, 3, 1).contiguous() if channels_last else X), y


def check_model_output(model, X: torch.Tensor, expected_shape, *, what: str = "model(X)") -> None:
    """model(X) must run and return a tensor of expected_shape.

    On failure the message carries the per-layer shape table (diagnosis.shape_table), so the
    student sees the layer where a size went wrong, not a traceback into the checker.
    """
    from ..diagnosis import shape_table

    expected = tuple(expected_shape)
    with strict():
        table = shape_table(model, X)
    if table.error is not None:
        raise CheckFailed(f"{what} raised an error for X {describe(X)}. Shapes layer by layer:\n{table}",
                          explain_error(table.error).tag)
    if table.output != expected:
        got = ("None (did forward forget to return?)" if table.output is None else
               table.output if isinstance(table.output, str) else _shape_text_for(table.output))
        raise CheckFailed(f"{what} returned {got} for X {describe(X)}; expected {shape_str(expected)} "
                          f"(dim 0 is the batch and must stay N = {X.shape[0]}). "
                          f"Shapes layer by layer:\n{table}", "output-shape")


def _shape_text_for(shape) -> str:
    try:
        return shape_str(shape)
    except TypeError:
        return repr(shape)
