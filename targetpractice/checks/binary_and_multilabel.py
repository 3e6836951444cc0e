"""Checks for topic 02, binary and multi-label: data sets, a BCE reference computed from its
definition, an element-wise accuracy and a training check for outputs with one logit per label:
(N, 1) binary, (N, C) multi-label, (N, C, H, W) masks."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..diagnosis import describe, shape_str
from .core import CheckFailed, _no_grad, call, rows, separable_data, train_held_out


_logsigmoid = F.logsigmoid


def binary_data(N: int = 96, n_features: int = 4, seed: int = 0):
    """A tiny two-class set a linear model separates: X (N, F) float, y (N,) float 0./1."""
    X, y = separable_data(N, n_features, 2, seed=seed)          # (N, F), (N,) int64
    return X, y.float()                                          # (N,) float 0./1.


def multilabel_data(N: int = 96, n_features: int = 6, C: int = 4, seed: int = 0):
    """A tiny multi-label set: X (N, F), Y (N, C) float multi-hot, each label linearly decodable from X.

    Every sample gets each label with probability 1/2, so most samples carry several labels.
    """
    g = torch.Generator().manual_seed(seed)
    Y = (torch.rand(N, C, generator=g) < 0.5).float()            # (N, C) multi-hot
    W = torch.randn(C, n_features, generator=g)                  # (C, F) one direction per label
    X = (2 * Y - 1) @ W + 0.3 * torch.randn(N, n_features, generator=g)  # (N, F)
    return X, Y



def _binary_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of labels predicted right (logit > 0 means 1), counted one by one.

    ``logits`` and ``targets`` must hold one logit per label: the same number of elements.
    """
    z, t = logits.detach().reshape(-1).tolist(), targets.detach().reshape(-1).tolist()
    if len(z) != len(t):
        raise CheckFailed(f"the model gives {len(z)} logits for {len(t)} labels (output "
                          f"{describe(logits)}, labels {describe(targets)}): a binary or multi-label model "
                          "needs one logit per label.", "output-shape")
    hits = sum(int((a > 0) == (b > 0.5)) for a, b in zip(z, t))
    return hits / max(len(t), 1)


def check_trains_binary(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 150,
                        lr: float = 0.05, min_accuracy: float = 0.95, max_loss: float | None = None,
                        seed: int = 0, labels: torch.Tensor | None = None) -> dict:
    """check_trains for one logit per label: train with Adam on two thirds of the samples, then require
    the element-wise accuracy on the held-out third.

    ``labels`` are the 0/1 labels the accuracy is measured against, one per output element
    (default: y). A prediction is 1 where the logit is > 0.
    """
    N = X.shape[0]
    held_out, value = train_held_out(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        out = call(model, {"X": X[held_out]}, what="model(X)")
    acc = _binary_accuracy(out, rows(y if labels is None else labels, N, held_out))
    if max_loss is not None and not value <= max_loss:   # first: a floor explains a low accuracy too
        raise CheckFailed(f"After {steps} training steps the loss on held-out samples is still {value:.4f} (accuracy {acc:.3f}); "
                          f"it should fall below {max_loss}. A loss stuck at a floor usually means sigmoid "
                          "(or softmax, tanh) was applied before BCEWithLogitsLoss, which applies sigmoid "
                          "itself.", "loss-floor")
    if not acc >= min_accuracy:
        raise CheckFailed(f"After {steps} training steps {acc:.3f} of the labels are right (logit > 0 means 1); "
                          f"it should reach {min_accuracy:.2f} on this easy data (loss {value:.4f}).",
                          "does-not-learn")
    return {"accuracy": acc, "loss": value}
