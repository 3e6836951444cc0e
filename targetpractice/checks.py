"""Checks that tests reuse.  Each takes the student's function or model as an argument
(ARENA style), so one broken cell never cascades into the next exercise.

A failing check raises :class:`CheckFailed` (an AssertionError) whose message names the
shapes seen, what was expected and the fix to consider.  Anything the student's code
raises is caught and explained; a checker never crashes on a tensor of the wrong rank.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import warnings

import torch
import torch.nn.functional as F

from .diagnosis import describe, diagnose, explain_error, shape_str

# Captured at import, before any student cell runs: a student who reassigns
# torch.allclose or torch.equal cannot change what the checks compute.
_max = torch.max
_abs = torch.abs
_logsumexp = torch.logsumexp
_no_grad = torch.no_grad

HIDDEN_NOTE = "Hidden checks also try N = 1, an odd N, gradients and a few training steps."


class CheckFailed(AssertionError):
    """A check failed; the message is for the student."""

    def __init__(self, message: str, tag: str = "unknown"):
        super().__init__(message)
        self.tag = tag

    def _render_traceback_(self):  # IPython shows this instead of a traceback into the checker
        return [f"\x1b[31mCheck failed [{self.tag}]\x1b[0m", *str(self).splitlines()]


def passed(message: str) -> None:
    print(f"\u2713 {message}")


@contextlib.contextmanager
def strict():
    """Warnings become errors (a broadcast warning is a bug here), and nothing reaches stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ----------------------------------------------------------------------------- data
def class_batch(N: int, C: int, seed: int = 0, extra: tuple = ()):
    """Random logits (N, C, *extra) float32 and class ids (N, *extra) int64, every class < C."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, C, *extra), generator=g)           # (N, C, ...)
    y = torch.randint(0, C, (N, *extra), generator=g)           # (N, ...)
    return logits, y


def separable_data(N: int = 96, n_features: int = 4, C: int = 3, seed: int = 0):
    """A tiny classification set a small MLP fits in a few dozen steps: X (N, F), y (N,)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(C, n_features, generator=g) * 3.0      # (C, F)
    y = torch.arange(N) % C                                      # (N,)
    X = centers[y] + 0.5 * torch.randn(N, n_features, generator=g)  # (N, F)
    return X, y


# ------------------------------------------------------------------------ references
def reference_cross_entropy(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean"):
    """Cross-entropy computed sample by sample from its definition (not with F.cross_entropy)."""
    losses = torch.stack([_logsumexp(logits[n], 0) - logits[n, y[n]] for n in range(logits.shape[0])])
    return losses.mean() if reduction == "mean" else losses


def reference_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose highest logit is their label, counted one by one."""
    hits = sum(int(int(logits[n].argmax()) == int(y[n])) for n in range(logits.shape[0]))
    return hits / logits.shape[0]


# --------------------------------------------------------------------------- helpers
def _args_text(args: dict) -> str:
    return ", ".join(f"{k} {describe(v)}" for k, v in args.items())


def call(fn, args: dict, *, loss=None, what: str | None = None):
    """Call the student's fn(*args); turn any exception or warning into a CheckFailed that explains it."""
    what = what or f"{getattr(fn, '__name__', 'your function')}({', '.join(args)})"
    try:
        with strict():
            return fn(*args.values())
    except CheckFailed:
        raise
    except Exception as exc:  # the student's bug, not ours: explain it
        diag = explain_error(exc)
        tensors = [v for v in args.values() if isinstance(v, torch.Tensor)]
        if loss is not None and len(tensors) >= 2 and diag.tag == "unknown":
            diag = diagnose(loss, tensors[0], tensors[1])
        raise CheckFailed(f"{what} raised an error when called with {_args_text(args)}:\n{diag.message}",
                          diag.tag) from None


def _require_tensor(value, what: str, shape=None, floating: bool = True):
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should return a tensor, but returned {describe(value)}.", "not-a-tensor")
    if floating and not value.is_floating_point():
        raise CheckFailed(f"{what} should return a float tensor, got {describe(value)}.", "dtype")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{what} should return shape {shape_str(shape)}, got {describe(value)}.",
                          "output-shape")
    if floating and not bool(torch.isfinite(value.detach()).all()):
        raise CheckFailed(f"{what} returned a non-finite value: {value.detach()}.", "non-finite")
    return value


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(_max(_abs(a.detach().double() - b.detach().double()))) if a.numel() else 0.0


# ---------------------------------------------------------------------------- checks
def check_loss(fn, reference, args: dict, *, loss=None, grad_of: str | None = "logits",
               atol: float = 1e-5, label: str = "") -> None:
    """fn(*args) must be a scalar loss equal to reference(...) in value and, for args[grad_of], in gradient.

    ``reference`` takes the same args; it is the loss computed another way.
    """
    what = f"{getattr(fn, '__name__', 'your function')}({', '.join(args)}){label}"
    mine = {k: (v.detach().clone().requires_grad_(True) if k == grad_of else v.clone())
            for k, v in args.items()}
    theirs = {k: (v.detach().clone().requires_grad_(True) if k == grad_of else v.clone())
              for k, v in args.items()}
    out = _require_tensor(call(fn, mine, loss=loss, what=what), what, shape=())
    with strict():
        expected = reference(*theirs.values())
    gap = _gap(out, expected)
    if gap > atol:
        diag = diagnose(loss, *list(args.values())[:2]) if loss is not None else None
        hint = f"\n{diag.message}" if diag is not None and diag.tag != "ok" else ""
        raise CheckFailed(
            f"{what} returned {float(out.detach()):.6f}, but the loss computed sample by sample is "
            f"{float(expected.detach()):.6f} (inputs: {_args_text(args)}).{hint}",
            diag.tag if diag is not None and diag.tag != "ok" else "wrong-value")
    if grad_of is not None:
        if not out.requires_grad:
            raise CheckFailed(f"{what} returned a loss that does not depend on {grad_of} "
                              "(detached? computed from .item() or argmax?), so nothing would learn.",
                              "no-gradient")
        out.backward()
        expected.backward()
        g_mine, g_ref = mine[grad_of].grad, theirs[grad_of].grad
        if g_mine is None or _gap(g_mine, g_ref) > 10 * atol:
            raise CheckFailed(f"{what}: the gradient reaching {grad_of} differs from the reference "
                              f"(largest difference {(_gap(g_mine, g_ref) if g_mine is not None else float('inf')):.3g}), "
                              "so training would follow the wrong signal.", "wrong-gradient")


def check_loss_fn(fn, reference, make_args, *, sizes=(1, 2, 7), loss=None, grad_of="logits",
                  atol: float = 1e-5) -> None:
    """check_loss for several batch sizes; make_args(N) returns the dict of named inputs."""
    for N in sizes:
        check_loss(fn, reference, make_args(N), loss=loss, grad_of=grad_of, atol=atol, label=f" with N = {N}")


def check_gradient_locality(per_element_fn, args: dict, *, of: str = "logits", class_dim: int = 1,
                            max_positions: int = 12) -> None:
    """The loss at each position must send gradient only into that position's scores (D2).

    per_element_fn returns unreduced losses, one per target position: args[of] without its class
    dim.  A view where a permute was needed, or a broadcast, sends gradient elsewhere.
    """
    x = args[of]
    what = getattr(per_element_fn, "__name__", "your function")
    want = tuple(x.shape[:class_dim % x.dim()]) + tuple(x.shape[class_dim % x.dim() + 1:])
    first = _require_tensor(call(per_element_fn, args, what=what), what)
    if tuple(first.shape) != want:
        raise CheckFailed(f"{what} should give one loss per position, shape {shape_str(want)}; "
                          f"got {describe(first)}.", "unreduced-shape")
    positions = list(itertools.product(*(range(n) for n in want)))
    step = max(1, len(positions) // max_positions)
    for idx in positions[::step]:
        named = {k: (v.detach().clone().requires_grad_(True) if k == of else v) for k, v in args.items()}
        out = call(per_element_fn, named, what=what)
        out[idx].backward()
        g = named[of].grad
        if g is None:
            raise CheckFailed(f"{what}: no gradient reaches {of}.", "no-gradient")
        g = g.movedim(class_dim, -1)                       # (..., C): the scores of each position last
        leak = float(_abs(g).sum() - _abs(g[idx]).sum())
        if leak > 0:
            raise CheckFailed(f"{what}: the loss at position {idx} sends gradient into the scores of other "
                              "positions or samples; they are being mixed (a view or reshape where a permute "
                              "was needed, or broadcasting).", "gradient-leak")


def check_unreduced_shape(per_sample_fn, args: dict, expected_shape) -> None:
    """The unreduced loss must have the target's shape (D3): a broadcast gives (N, N)."""
    what = getattr(per_sample_fn, "__name__", "your function")
    out = _require_tensor(call(per_sample_fn, args, what=what), what)
    if tuple(out.shape) != tuple(expected_shape):
        raise CheckFailed(f"{what} gives per-sample losses of shape {shape_str(out.shape)}, expected "
                          f"{shape_str(expected_shape)} (one per target). A larger shape means the target "
                          "was broadcast against the output.", "broadcast")


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
    if value > tol:
        floor = math.log(1 + (C - 1) / math.e)
        raise CheckFailed(f"{what} is {value:.4f} for perfect predictions; it should be about 0. "
                          f"(With softmax applied before CrossEntropyLoss the floor is log(1 + (C-1)/e) = "
                          f"{floor:.4f} for C = {C}.)", "softmax-before-loss")


def check_batch_independence(model, X: torch.Tensor) -> None:
    """Changing sample 0 must not change the outputs of the other samples (D5)."""
    if hasattr(model, "eval"):
        model.eval()
    with _no_grad():
        X2 = X.clone()
        X2[0] = X2[0] + 1.0
        a = call(model, {"X": X}, what="model(X)")
        b = call(model, {"X": X2}, what="model(X)")
    gap = _gap(a[1:], b[1:])
    if gap > 1e-6:
        raise CheckFailed(f"Changing sample 0 changed the outputs of the other samples by up to {gap:.3g}: "
                          "the model mixes samples (batch and time swapped? batch_first?).", "batch-mixing")


def check_permutation_equivariance(per_sample_fn, args: dict, seed: int = 0) -> None:
    """Shuffling all inputs along dim 0 must shuffle the per-sample losses the same way (D6)."""
    n = next(v for v in args.values() if isinstance(v, torch.Tensor)).shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    what = getattr(per_sample_fn, "__name__", "your function")
    a = _require_tensor(call(per_sample_fn, args, what=what), what)
    b = _require_tensor(call(per_sample_fn, {k: v[perm] for k, v in args.items()}, what=what), what)
    if a.shape != b.shape or a.dim() == 0 or _gap(a[perm], b) > 1e-5:
        raise CheckFailed(f"{what}: shuffling the batch did not shuffle the per-sample losses the same way "
                          "(targets misaligned or broadcast against the outputs).", "misaligned")


def check_batch_sizes(fn, make_args, sizes=(1, 2, 7)) -> None:
    """fn must run for every batch size, N = 1 and an odd N included."""
    for N in sizes:
        call(fn, make_args(N), what=f"{getattr(fn, '__name__', 'your function')} with N = {N}")


def train_steps(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int, lr: float, seed: int = 0) -> float:
    """Train model with Adam on loss_fn(model(X), y) for a few steps; return the final loss.

    Student code runs through call(), so its errors come back explained; a loss that does not
    depend on the output (detached, .item(), argmax) fails at once instead of silently not learning.
    """
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    if not params:
        raise CheckFailed(f"expected a model (an nn.Module with parameters), got {describe(model)}.", "not-a-model")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    value = float("nan")
    for _ in range(steps):
        opt.zero_grad()
        out = call(model, {"X": X}, what="model(X)")
        loss = _require_tensor(call(loss_fn, {"output": out, "y": y}, what="the loss"), "the loss", shape=())
        if not loss.requires_grad:
            raise CheckFailed("The loss does not depend on the model's output (detached? computed from "
                              ".item(), argmax or a threshold?), so nothing would learn.", "no-gradient")
        loss.backward()
        opt.step()
        value = float(loss.detach())
    model.eval()
    return value


def check_trains(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 150, lr: float = 0.05,
                 min_accuracy: float = 0.95, max_loss: float | None = None, seed: int = 0,
                 labels: torch.Tensor | None = None) -> dict:
    """Train model with Adam on (X, y) for a few steps; require a stated accuracy (and final loss).

    ``labels`` are the 0-based class ids (N,) the accuracy is measured against (default: y).
    """
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        model.eval()
        acc = reference_accuracy(model(X), (y if labels is None else labels).reshape(-1))
    if acc < min_accuracy:
        raise CheckFailed(f"After {steps} training steps the accuracy is {acc:.3f}; it should reach "
                          f"{min_accuracy:.2f} on this easy data (loss {value:.4f}).", "does-not-learn")
    if max_loss is not None and value > max_loss:
        raise CheckFailed(f"After {steps} training steps the loss is still {value:.4f} (accuracy {acc:.3f}); "
                          f"it should fall below {max_loss}. A loss stuck at a floor usually means softmax "
                          "or sigmoid was applied before a loss that applies it itself.", "loss-floor")
    return {"accuracy": acc, "loss": value}


def check_shape(name: str, predicted, actual) -> None:
    """A 'predict the shape' answer: a tuple of ints equal to the real shape."""
    actual = tuple(actual)
    try:
        guess = tuple(int(s) for s in predicted)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: write the shape as a tuple of ints such as (4, 5); got {predicted!r}.",
                          "predict-shape") from None
    if guess != actual:
        raise CheckFailed(f"{name}: you predicted {shape_str(guess)}; the real shape has "
                          f"{len(actual)} dim(s). Think about which dims the operation keeps.", "predict-shape")


# =============================================================================
# Binary and multi-label (added for topic 02-binary-and-multilabel)
# Data sets, a BCE reference computed from its definition, an element-wise accuracy and a training
# check for outputs with one logit per label: (N, 1) binary, (N, C) multi-label, (N, C, H, W) masks.
# =============================================================================
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


def reference_bce_with_logits(logits: torch.Tensor, targets: torch.Tensor, pos_weight=None,
                              class_dim: int = 1, reduction: str = "mean"):
    """BCE-with-logits from its definition, -[p * y * log s(z) + (1 - y) * log(1 - s(z))], element-wise.

    ``targets`` must have the logits' shape. ``pos_weight`` holds one weight per class and is laid
    along ``class_dim`` of the logits here, whatever shape the student's code gives it.
    """
    z, t = logits, targets.to(logits.dtype)
    if tuple(z.shape) != tuple(t.shape):
        raise ValueError(f"reference_bce_with_logits needs equal shapes, got {shape_str(z.shape)} and "
                         f"{shape_str(t.shape)}")
    w = torch.ones((), dtype=z.dtype)
    if pos_weight is not None:
        pw = torch.as_tensor(pos_weight, dtype=z.dtype).reshape(-1)          # (C,)
        view = [1] * z.dim()
        view[class_dim % z.dim()] = pw.numel()
        w = pw.reshape(view)                                                 # (1, C, 1, ...) on class_dim
    losses = -(w * t * _logsigmoid(z) + (1 - t) * _logsigmoid(-z))          # log(1 - s(z)) = log s(-z)
    if reduction == "none":
        return losses
    return losses.sum() / max(losses.numel(), 1) if reduction == "mean" else losses.sum()


def reference_binary_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
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
    """check_trains for one logit per label: train with Adam, then require the element-wise accuracy.

    ``labels`` are the 0/1 labels the accuracy is measured against, one per output element
    (default: y). A prediction is 1 where the logit is > 0.
    """
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        model.eval()
        out = call(model, {"X": X}, what="model(X)")
    acc = reference_binary_accuracy(out, y if labels is None else labels)
    if max_loss is not None and value > max_loss:   # first: a floor explains a low accuracy too
        raise CheckFailed(f"After {steps} training steps the loss is still {value:.4f} (accuracy {acc:.3f}); "
                          f"it should fall below {max_loss}. A loss stuck at a floor usually means sigmoid "
                          "(or softmax, tanh) was applied before BCEWithLogitsLoss, which applies sigmoid "
                          "itself.", "loss-floor")
    if acc < min_accuracy:
        raise CheckFailed(f"After {steps} training steps {acc:.3f} of the labels are right (logit > 0 means 1); "
                          f"it should reach {min_accuracy:.2f} on this easy data (loss {value:.4f}).",
                          "does-not-learn")
    return {"accuracy": acc, "loss": value}


# =============================================================================================
# Regression and broadcasting (added for topic 03-regression-and-broadcasting): tiny regression
# data, references that pair element i with element i and never broadcast, R², a training check
# measured by R², and a check that a guard raises instead of letting a broadcast run silently.
# =============================================================================================
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


def reference_mse(output: torch.Tensor, target: torch.Tensor):
    """Mean squared error pairing output value i with target value i (row-major order); never broadcasts."""
    o, t = _pair_up(output, target, "reference_mse")
    diff = o - t
    return (diff * diff).sum() / diff.numel()


def reference_gaussian_nll(mean: torch.Tensor, target: torch.Tensor, var, eps: float = 1e-6):
    """Mean Gaussian NLL 0.5 * (log var + (mean - target)² / var), value i against value i; var clamped at eps."""
    m, t = _pair_up(mean, target, "reference_gaussian_nll")
    v = torch.as_tensor(var, dtype=m.dtype)
    v = v.reshape(-1) if v.numel() == m.numel() else v.reshape(-1).expand_as(m)
    v = v + (v.detach().clamp(min=eps) - v.detach())                      # clamp the value, keep the gradient
    return (0.5 * (v.log() + (m - t) ** 2 / v)).sum() / m.numel()


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
    if score < min_r2:
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
    """Train model with Adam on loss_fn(output, y); require R² >= min_r2 on the training data.

    ``truth`` is what R² is measured against (default y): e.g. the (N, K) targets when the loss gets
    them flattened to (N*K,).
    """
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        model.eval()
        pred = model(X)
    score = check_r2(pred, y if truth is None else truth, min_r2,
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


# ============================================================================================
# Images and CNN checks (added for 04-convolutions-and-pooling).
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
    from .diagnosis import shape_table

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


# ============================================================================================
# Sequences and padding (topic 05): token-level references, padded batches, padding invariance,
# held-out training, encoder-decoder losses.  Classes are in the LAST dim here: (N, T, V) or (N, C).
# ============================================================================================
def reference_token_cross_entropy(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = -100,
                                  reduction: str = "mean"):
    """Cross-entropy of (N, T, V) logits against (N, T) ids, token by token, skipping ignore_index.

    "mean" averages over the real tokens only; "none" gives (N, T) with 0 at the skipped positions.
    """
    N, T = y.shape
    rows = []
    for n in range(N):
        row = []
        for t in range(T):
            k = int(y[n, t])
            row.append(logits.new_zeros(()) if k == ignore_index else _logsumexp(logits[n, t], 0) - logits[n, t, k])
        rows.append(torch.stack(row))
    losses = torch.stack(rows)                                    # (N, T)
    if reduction == "none":
        return losses
    real = int((y != ignore_index).sum())
    return losses.sum() / real if real else losses.sum() * float("nan")


def reference_token_accuracy(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = -100) -> float:
    """Fraction of real tokens (y != ignore_index) whose highest score (last dim) is their id."""
    hits = total = 0
    for n in range(y.shape[0]):
        for t in range(y.shape[1]):
            if int(y[n, t]) != ignore_index:
                total += 1
                hits += int(int(logits[n, t].argmax()) == int(y[n, t]))
    return hits / total if total else float("nan")


def padding_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(N, T) bool, True on the first lengths[n] steps of row n (the real tokens)."""
    return torch.arange(T)[None, :] < lengths[:, None]


def token_batch(N: int, T: int, V: int, seed: int = 0, pad: int | None = None, min_length: int = 1):
    """Random logits (N, T, V), ids y (N, T) and lengths (N,).

    With ``pad`` given, row n is padded with that value after lengths[n] real tokens (one row,
    when N >= 2, is full length); without it every row is full length.
    """
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, T, V), generator=g)                 # (N, T, V)
    y = torch.randint(0, V, (N, T), generator=g)                 # (N, T)
    if pad is None:
        return logits, y, torch.full((N,), T)
    lengths = torch.randint(min_length, T + 1, (N,), generator=g)  # (N,)
    if N >= 2:
        lengths[0] = T
    y = y.masked_fill(~padding_mask(lengths, T), pad)
    return logits, y, lengths


def tagging_data(N: int, T: int, V: int, seed: int = 0, rule: str = "previous", padded: bool = False,
                 pad_input: int = 0, pad_target: int = -100):
    """Token ids X (N, T) and tags y (N, T) for a tiny tagger.

    rule "previous": the tag is the token one step earlier (0 at t = 0), needs the RNN's memory;
    rule "mod3": the tag is the token id mod 3, needs the identity of a token, not its size.
    With padded, rows have random lengths: X is padded with pad_input and y with pad_target.
    Real tokens are drawn from 1..V-1, so that id 0 is free for padding the inputs.
    """
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(1, V, (N, T), generator=g)                 # (N, T)
    if rule == "previous":
        y = torch.roll(X, 1, dims=1)                              # (N, T)
        y[:, 0] = 0
    elif rule == "mod3":
        y = X % 3                                                 # (N, T)
    else:
        raise ValueError(f"unknown rule {rule!r}")
    if padded:
        lengths = torch.randint(2, T + 1, (N,), generator=g)      # (N,)
        lengths[0] = T
        real = padding_mask(lengths, T)                           # (N, T)
        X, y = X.masked_fill(~real, pad_input), y.masked_fill(~real, pad_target)
    return X, y


def sign_of_sum_data(N: int, T: int, n_features: int = 3, seed: int = 0):
    """Sequences X (N, T, F) and labels y (N,): 1 where feature 0 summed over time is positive."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn((N, T, n_features), generator=g)              # (N, T, F)
    return X, (X[:, :, 0].sum(1) > 0).long()                     # (N,)


def reversal_data(N: int, S: int, K: int, V: int, seed: int = 0, bos: int = 1):
    """A task whose target is shorter than its input: src (N, S) ids in 2..V-1 and
    tgt (N, K + 1) = [bos, the last K source tokens in reverse order]."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, V, (N, S), generator=g)               # (N, S)
    tgt = torch.cat([torch.full((N, 1), bos), src.flip(1)[:, :K]], dim=1)  # (N, K + 1)
    return src, tgt


def _number(value, what: str) -> float:
    """A Python number or a one-element tensor as a float; anything else fails the check."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(f"{what} should return a single number, got {describe(value)}.", "not-a-number")


def check_padding_invariance(fn, args: dict, *, scores: str = "logits", target: str = "y", pad_value: int = -100,
                             extra: int = 3, seed: int = 0, atol: float = 1e-5) -> None:
    """More padding must not change a loss or metric over the real tokens.

    Appends ``extra`` pad steps to args[target] (value pad_value) and random scores to args[scores]
    along dim 1; every other argument (lengths, ...) is passed unchanged.
    """
    what = getattr(fn, "__name__", "your function")
    a = _number(call(fn, args, what=what), what)
    x, y = args[scores], args[target]
    g = torch.Generator().manual_seed(seed)
    more = dict(args)
    more[scores] = torch.cat([x, 5 * torch.randn((x.shape[0], extra, *x.shape[2:]), generator=g)], dim=1)
    more[target] = torch.cat([y, torch.full((y.shape[0], extra), pad_value, dtype=y.dtype)], dim=1)
    b = _number(call(fn, more, what=f"{what} with {extra} more pad steps"), what)
    if abs(a - b) > atol:
        raise CheckFailed(f"{what} gave {a:.6f}; with {extra} more pad steps per row (same real tokens) it gave "
                          f"{b:.6f}. Padding must not count: average over the real tokens only "
                          "(sum over the mask / mask.sum(), or pad the targets with ignore_index).", "counts-padding")


def check_trains_tokens(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, test=None, steps: int = 100,
                        lr: float = 0.03, min_accuracy: float = 0.95, ignore_index: int = -100,
                        seed: int = 0) -> dict:
    """Train model with Adam on (X, y); scores have the classes in the LAST dim: (N, C) or (N, T, V).

    The accuracy counts real targets only (y != ignore_index), on ``test`` = (X_test, y_test) if given
    (a model that mixes samples can memorise its training batch), else on the training data.
    """
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    Xe, ye = test if test is not None else (X, y)
    with _no_grad():
        model.eval()
        out = _require_tensor(call(model, {"X": Xe}, what="model(X)"), "model(X)")
    if tuple(out.shape[:-1]) != tuple(ye.shape):
        raise CheckFailed(f"model(X) gives {describe(out)} for X {describe(Xe)}; expected the classes in the last "
                          f"dim after {shape_str(ye.shape)}.", "output-shape")
    real = ye != ignore_index
    acc = float((out.argmax(-1)[real] == ye[real]).float().mean())
    where = "held-out data" if test is not None else "the training data"
    if acc < min_accuracy:
        raise CheckFailed(f"After {steps} training steps the accuracy on {where} is {acc:.3f}; it should reach "
                          f"{min_accuracy:.2f} on this easy task (final training loss {value:.4f}).", "does-not-learn")
    return {"accuracy": acc, "loss": value}


class _TinyTagger(torch.nn.Module):
    """Token ids (N, T) -> scores (N, T, n_tags): Embedding -> GRU(batch_first) -> Linear."""

    def __init__(self, n_tokens: int, n_tags: int, emb: int = 8, hidden: int = 32):
        super().__init__()
        self.embed = torch.nn.Embedding(n_tokens, emb)
        self.rnn = torch.nn.GRU(emb, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, n_tags)

    def forward(self, X):
        out, _ = self.rnn(self.embed(X))                          # (N, T, hidden)
        return self.head(out)                                      # (N, T, n_tags)


def tiny_tagger(n_tokens: int, n_tags: int, seed: int = 0, emb: int = 8, hidden: int = 32):
    """A small, known-good tagger for checks that train a student's loss on tokens."""
    torch.manual_seed(seed)
    return _TinyTagger(n_tokens, n_tags, emb, hidden)


def reference_teacher_forcing_loss(model, src: torch.Tensor, tgt: torch.Tensor, ignore_index: int = -100):
    """Next-token cross-entropy of an encoder-decoder, one prefix at a time.

    ``model.encode(src)`` returns (outputs, state); ``model.decode(tgt_in, state)`` returns (N, T_in, V).
    Step t scores tgt[:, t + 1] from the prefix tgt[:, :t + 1], so no slicing of a full-length call is trusted.
    """
    _, state = model.encode(src)
    steps = [model.decode(tgt[:, :t + 1], state)[:, -1] for t in range(tgt.shape[1] - 1)]  # T-1 of (N, V)
    return reference_token_cross_entropy(torch.stack(steps, dim=1), tgt[:, 1:], ignore_index)


def greedy_decode(model, src: torch.Tensor, steps: int, bos: int = 1) -> torch.Tensor:
    """Decode ``steps`` tokens from BOS with an encode/decode model, feeding back its own argmax: (N, steps)."""
    with _no_grad():
        _, state = model.encode(src)
        ys = torch.full((src.shape[0], 1), bos, dtype=torch.long)          # (N, 1)
        for _ in range(steps):
            nxt = model.decode(ys, state)[:, -1].argmax(-1, keepdim=True)  # (N, 1)
            ys = torch.cat([ys, nxt], dim=1)
    return ys[:, 1:]


def check_model_loss(fn, reference, model, args: dict, *, atol: float = 1e-5, label: str = "") -> None:
    """fn(model, *args) must equal reference(model, *args) in value and in the gradient of every parameter."""
    what = f"{getattr(fn, '__name__', 'your function')}(model, {', '.join(args)}){label}"
    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    out = _require_tensor(call(fn, {"model": model, **args}, what=what), what, shape=())
    with strict():
        expected = reference(model, *args.values())
    gap = _gap(out, expected)
    if gap > atol:
        raise CheckFailed(f"{what} returned {float(out.detach()):.6f}, but the loss computed step by step is "
                          f"{float(expected.detach()):.6f} (inputs: {_args_text(args)}).", "wrong-value")
    if not out.requires_grad:
        raise CheckFailed(f"{what} returned a loss that does not depend on the model's parameters, "
                          "so nothing would learn.", "no-gradient")
    mine = torch.autograd.grad(out, params, allow_unused=True)
    theirs = torch.autograd.grad(expected, params, allow_unused=True)
    for (name, _), a, b in zip([(n, p) for n, p in model.named_parameters() if p.requires_grad], mine, theirs):
        a = torch.zeros_like(b) if a is None and b is not None else a
        b = torch.zeros_like(a) if b is None and a is not None else b
        if a is not None and _gap(a, b) > 10 * atol:
            raise CheckFailed(f"{what}: the gradient of {name} differs from the reference (largest difference "
                              f"{_gap(a, b):.3g}), so training would follow the wrong signal.", "wrong-gradient")
