"""Checks for topic 01, classification: random logits with class ids, cross-entropy computed from its
definition, and the perfect-prediction floor (softmax applied before CrossEntropyLoss)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .core import CheckFailed, _logsumexp, _require_tensor, call


def class_batch(N: int, C: int, seed: int = 0, extra: tuple = ()):
    """Random logits (N, C, *extra) float32 and class ids (N, *extra) int64, every class < C."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, C, *extra), generator=g)           # (N, C, ...)
    y = torch.randint(0, C, (N, *extra), generator=g)           # (N, ...)
    return logits, y



def check_perfect_floor(fn, y: torch.Tensor, C: int, *, tol: float = 1e-3, scale: float = 30.0) -> None:
    """With logits that are right by a wide margin the loss must be about 0 and never negative (D4)."""
    logits = scale * F.one_hot(y, C).float()                                   # (N, C)
    what = f"{getattr(fn, '__name__', 'your function')}(logits, y)"
    out = _require_tensor(call(fn, {"logits": logits, "y": y}, what=what), what, shape=())
    value = float(out.detach())
    if value < -1e-6:
        raise CheckFailed(f"{what} is {value:.4f} for perfect predictions: a loss below 0 means the input "
                          "is not what the loss expects (probabilities or raw logits into NLLLoss?).",
                          "negative-loss")
    if not value <= tol:
        floor = math.log(1 + (C - 1) / math.e)
        raise CheckFailed(f"{what} is {value:.4f} for perfect predictions; it should be about 0. "
                          f"(With softmax applied before CrossEntropyLoss the floor is log(1 + (C-1)/e) = "
                          f"{floor:.4f} for C = {C}.)", "softmax-before-loss")
