"""Checks for topic 03, regression and broadcasting: tiny regression data, references that pair
element i with element i and never broadcast, R², a training check measured by R², and a check
that a guard raises instead of letting a broadcast run silently."""
from __future__ import annotations

import torch

from ..diagnosis import describe
from .core import CheckFailed, _args_text, _no_grad, call, rows, strict, train_held_out


def regression_batch(N: int, K: int = 1, seed: int = 0):
    """Random outputs (N, K) and float targets (N, K) for loss checks; reshape the target as the test needs."""
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(N, K, generator=g)                                  # (N, K)
    y = torch.randn(N, K, generator=g) + 1.0                              # (N, K)
    return out, y


def regression_data(N: int = 64, n_features: int = 4, K: int | None = None, seed: int = 0,
                    noise: float = 0.1, offset: float = 3.0):
    """A tiny regression set a Linear layer fits in a few dozen steps: X (N, F), y (N,) or (N, K) float.

    The targets are linear in X, plus ``offset`` and a little noise: R² near 1 is reachable, and a
    model that only learns the mean of the targets scores R² near 0.
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, n_features, generator=g)                           # (N, F)
    W = torch.randn(n_features, K or 1, generator=g)                      # (F, K)
    y = X @ W + offset + noise * torch.randn(N, K or 1, generator=g)      # (N, K)
    return X, (y[:, 0] if K is None else y)                               # (N,) when K is None


def _pair_up(output, target, what: str):
    """Both tensors flattened, after checking they hold the same number of values (no broadcasting)."""
    for name, t in (("output", output), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise CheckFailed(f"{what}: the {name} should be a tensor, got {describe(t)}.", "not-a-tensor")
    if output.numel() != target.numel():
        raise CheckFailed(f"{what}: the output {describe(output)} and the target {describe(target)} hold "
                          f"{output.numel()} and {target.numel()} values; a regression target has one value per "
                          "output. Check which dim is N on both sides.", "shape-mismatch")
    return output.reshape(-1), target.reshape(-1).to(output.dtype)



def r2_score(pred: torch.Tensor, y: torch.Tensor) -> float:
    """R² of predictions against targets in float64: 1 - SS_res / SS_tot, per output column, then averaged.

    pred may hold the same values in another shape ((N, 1) for (N,) targets): it is laid out as y first.
    """
    p, t = _pair_up(pred, y, "r2_score")
    t = y.detach().double().reshape(y.shape[0] if y.dim() else 1, -1)      # (N, K)
    p = p.detach().double().reshape(t.shape)                              # (N, K)
    scores = []
    for k in range(t.shape[1]):
        ss_res = float(((p[:, k] - t[:, k]) ** 2).sum())
        ss_tot = float(((t[:, k] - t[:, k].mean()) ** 2).sum())
        scores.append(1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0))
    return sum(scores) / len(scores)


def check_r2(pred: torch.Tensor, y: torch.Tensor, min_r2: float = 0.95, context: str = "") -> float:
    """Predictions must reach R² >= min_r2 against y; R² near 0 is a model that learned only the mean."""
    score = r2_score(pred, y)
    if not score >= min_r2:
        hint = (" R² near 0 means the model learned only the mean of the targets: the loss compared every "
                "output with every target, as an (N, 1) output against an (N,) target does (they broadcast "
                "to (N, N)). Give the target the output's shape: y.view_as(output)." if score < 0.5 else "")
        raise CheckFailed(f"{context}R² of the predictions {describe(pred)} against the targets {describe(y)} "
                          f"is {score:.3f}; it should reach {min_r2:.2f} on this easy data.{hint}",
                          "learns-the-mean" if score < 0.5 else "does-not-learn")
    return score


def check_regression_trains(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 150,
                            lr: float = 0.05, min_r2: float = 0.95, seed: int = 0,
                            truth: torch.Tensor | None = None) -> dict:
    """Train model with Adam on loss_fn(output, y) for two thirds of the samples; require R² >= min_r2
    on the held-out third.

    ``truth`` is what R² is measured against (default y): e.g. the (N, K) targets when the loss gets
    them flattened to (N*K,).
    """
    N = X.shape[0]
    held_out, value = train_held_out(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        pred = call(model, {"X": X[held_out]}, what="model(X)")
    score = check_r2(pred, rows(y if truth is None else truth, N, held_out), min_r2,
                     context=f"After {steps} training steps (final loss {value:.4f}): ")
    return {"r2": score, "loss": value}


def check_raises(fn, args: dict, *, expected=(ValueError, AssertionError), why: str = "") -> BaseException:
    """fn(*args) must raise one of ``expected``: a guard that makes a silent broadcast loud. Returns the error."""
    what = f"{getattr(fn, '__name__', 'your function')}({', '.join(args)})"
    names = " or ".join(e.__name__ for e in expected)
    try:
        with strict():
            value = fn(*args.values())
    except expected as exc:
        return exc
    except Exception as exc:  # the student's code crashed some other way: explain it
        raise CheckFailed(f"{what} with {_args_text(args)} raised {type(exc).__name__}: {str(exc).strip()}\n"
                          f"It should raise a {names} from your own check. {why}".rstrip(),
                          "wrong-exception") from None
    shown = (f"{float(value.detach()):.4f}" if isinstance(value, torch.Tensor) and value.numel() == 1
             else describe(value))
    raise CheckFailed(f"{what} with {_args_text(args)} returned {shown} without raising: the shape mismatch "
                      f"is still silent. It should raise a {names}. {why}".rstrip(), "silent-broadcast")
