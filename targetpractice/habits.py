"""Three habits of practitioners that make shape bugs loud, for lessons and the capstone.

    tp.loss_at_init(model, X, y, nn.CrossEntropyLoss())      # about log C before any training?
    tp.overfit_one_batch(model, X, y, loss_fn)              # can it learn 16 samples by heart?
    tp.baseline_loss(y, nn.CrossEntropyLoss(), C=10)        # what a model that ignores X scores

Each prints one line saying what it measured and what that means, and returns the number.
"""
from __future__ import annotations

import math

import torch


def loss_at_init(model, X: torch.Tensor, y: torch.Tensor, loss_fn, C: int | None = None) -> float:
    """The loss before training. A classifier that knows nothing spreads its probability evenly: its
    cross-entropy is about log C. Far above means large initial scores or a target of the wrong shape
    or meaning; far below before any training means the loss is not measuring what you think."""
    with torch.no_grad():
        out = model(X)
        value = float(loss_fn(out, y))
    C = C or (out.shape[1] if out.dim() >= 2 else 2)
    expected = math.log(C)
    ratio = value / expected
    verdict = ("about log C, as expected for a model that knows nothing" if 0.7 <= ratio <= 1.5 else
               "far above log C: large initial scores, or targets that do not mean what the loss reads"
               if ratio > 1.5 else "far below log C before any training: the loss does not measure what you think")
    print(f"loss at initialisation {value:.4f}; log C = log {C} = {expected:.4f}: {verdict}")
    return value


def overfit_one_batch(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 200, lr: float = 0.05,
                      seed: int = 0) -> float:
    """Train on one small batch until it is learnt by heart. A model and loss that are wired right drive
    the loss towards 0; a loss that stalls has a bug no amount of data will fix (a detached output, a
    softmax before the loss, targets that do not line up with the outputs)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    last = float(loss.detach())
    verdict = ("learnt by heart, as a correctly wired model should" if last < 0.05 * max(first, 1e-12) or last < 0.01
               else "it does not get near 0: look for a bug before training on more data")
    print(f"one batch of {X.shape[0]}, {steps} steps: loss {first:.4f} -> {last:.4f}: {verdict}")
    return last


def baseline_loss(y: torch.Tensor, loss_fn, C: int | None = None) -> float:
    """The loss of a model that ignores its input: it predicts the class frequencies (class ids y) or
    the mean target (values y). A trained model must beat this; one that only matches it learnt nothing
    from X, which is what a target broadcast against the output or misaligned with it produces."""
    if not y.is_floating_point():                              # class ids: predict the frequencies
        C = C or int(y.max()) + 1
        freq = torch.bincount(y.reshape(-1), minlength=C).double().clamp_min(1e-12) / y.numel()
        scores = freq.log().float().expand(*y.shape, C)            # (..., C): the same scores for every sample
        scores = scores.movedim(-1, 1) if y.dim() >= 2 else scores
        value = float(loss_fn(scores, y))
        what = f"predicting the class frequencies of y ({C} classes)"
    else:                                                        # values: predict the mean
        mean = y.mean(dim=0, keepdim=True) if y.dim() >= 2 else y.mean()   # per output for (N, K) targets
        value = float(loss_fn(mean.expand_as(y), y))
        what = "predicting the mean of y (per output) for every sample"
    print(f"baseline, {what}: loss {value:.4f}. A model must beat it; matching it means it learnt nothing from X.")
    return value
