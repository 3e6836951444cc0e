"""Checks for topic 03, regression and broadcasting: tiny regression and count data, references that
pair element i with element i and never broadcast, R², training checks measured by R² on samples the
model never saw, checks that a guard raises (and names both shapes) instead of letting a broadcast run
silently, and checks of a metric and of a training loop's report that judge what the student's code
produced."""
from __future__ import annotations

import re

import torch

from ..diagnosis import describe, shape_str
from .core import (CheckFailed, _args_text, _no_grad, call, check_loss, check_not_mutated, held_out_split,
                   rows, strict, train_held_out, train_steps)


def regression_batch(N: int, K: int = 1, seed: int = 0):
    """Random outputs (N, K) and float targets (N, K) for loss checks; the test reshapes the target."""
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


def poisson_batch(N: int, K: int = 1, seed: int = 0):
    """Predicted log-rates (N, K) and observed counts (N, K) float (whole numbers >= 0) for Poisson NLL."""
    g = torch.Generator().manual_seed(seed)
    log_rate = 0.5 * torch.randn(N, K, generator=g) + 1.0                 # (N, K)
    true_rate = (log_rate + 0.3 * torch.randn(N, K, generator=g)).exp()   # (N, K)
    counts = torch.poisson(true_rate, generator=g)                        # (N, K)
    return log_rate, counts


def outlier_regression_data(N: int = 64, n_features: int = 4, seed: int = 0, n_new: int = 48,
                            soft: bool = False):
    """A regression set with known wrong labels and a weight per sample: X (N, F), y (N,), w (N,), and
    new, correctly labelled samples X_new (n_new, F), y_new (n_new,) to score a trained model on.

    Every fourth sample (n % 4 == 3) has its label pushed up by 6 to 12 and weight 0; the others have
    weight 1, or with ``soft`` a weight between 0.5 and 1. A model trained with the weights fits the
    right labels (R² near 1 on new samples); one that ignores them is pulled up by the wrong ones.
    """
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(n_features, generator=g)                              # (F,)
    W = 2.0 * W / W.norm()                                                # var(y) about 4 for every seed
    X_all = torch.randn(N + n_new, n_features, generator=g)               # (N + n_new, F)
    y_all = X_all @ W + 3.0 + 0.1 * torch.randn(N + n_new, generator=g)  # (N + n_new,)
    X, y = X_all[:N], y_all[:N].clone()                                   # (N, F), (N,)
    wrong = torch.arange(N) % 4 == 3                                      # (N,)
    y[wrong] += 6.0 + 6.0 * torch.rand(int(wrong.sum()), generator=g)
    w = 0.5 + 0.5 * torch.rand(N, generator=g) if soft else torch.ones(N)  # (N,)
    w[wrong] = 0.0
    return X, y, w, X_all[N:], y_all[N:]


def _pair_up(output, target, what: str):
    """Both tensors flattened, after checking they hold the same number of values (no broadcasting)."""
    for name, t in (("output", output), ("target", target)):
        if not isinstance(t, torch.Tensor):
            raise CheckFailed(f"{what}: the {name} should be a tensor, got {describe(t)}.", "not-a-tensor")
    if output.numel() != target.numel():
        raise CheckFailed(f"{what}: the output {describe(output)} and the target {describe(target)} hold "
                          f"{output.numel()} and {target.numel()} values; a regression target has one value "
                          "per output. Check which dim is N on both sides.", "shape-mismatch")
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
    """Predictions must reach R² >= min_r2 against y; R² near 0 is a model that learned only the mean.

    The message says what the predictions look like (their spread against the targets'), never the code.
    """
    score = r2_score(pred, y)
    if not score >= min_r2:
        p, t = pred.detach().double().reshape(-1), y.detach().double().reshape(-1)
        spread = (f" The predictions spread {float(p.std()):.3f} (std) around {float(p.mean()):.3f}, the "
                  f"targets {float(t.std()):.3f} around {float(t.mean()):.3f}." if p.numel() > 1 else "")
        why = (" R² near 0 is what predicting the mean of the targets for every sample scores: the loss "
               "that trained the model rewarded exactly that, as a loss does when it compares every output "
               "with every target instead of each output with its own." if score < 0.5 else "")
        raise CheckFailed(f"{context}R² of the predictions {describe(pred)} against the targets "
                          f"{describe(y)} is {score:.3f}; it should reach {min_r2:.2f} on this easy data."
                          f"{spread}{why}",
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


# ------------------------------------------------------------------------ a loss that must pair values
_PER_ELEMENT = {"MSELoss": lambda a, b: (a - b) ** 2, "L1Loss": lambda a, b: (a - b).abs()}


def check_paired_loss(fn, reference, args: dict, *, output: str = "out", target: str = "y", loss="MSELoss",
                      grad_of: str | None = "out", label: str = "") -> None:
    """check_loss, and on a wrong value the regression mistakes that give exactly that value: every output
    against every target (a broadcast table), a flat (N*K,) target read output by output, or a table of
    targets stored in another layout ((K, N), (K, N, H), ...) read into the output's shape in memory order."""
    try:
        check_loss(fn, reference, args, loss=loss, grad_of=grad_of, label=label)
    except CheckFailed as failed:
        if failed.tag != "wrong-value":
            raise
        got = _produced(fn, args)
        why = _pairing_mistake(args, output, target, got, _PER_ELEMENT.get(loss, _PER_ELEMENT["MSELoss"])) \
            if got is not None else None
        if why is None:
            raise
        raise CheckFailed(f"{failed}\n{why[1]}", why[0]) from None


def _produced(fn, args: dict):
    try:
        with strict(), _no_grad():
            value = fn(*[v.clone() if isinstance(v, torch.Tensor) else v for v in args.values()])
    except Exception:  # noqa: BLE001 - check_loss already said how it fails
        return None
    return value if isinstance(value, torch.Tensor) and value.dim() == 0 else None


def _pairing_mistake(args: dict, output: str, target: str, got, per_element):
    """(tag, sentence) when ``got`` is exactly the loss of a known wrong pairing of output and target."""
    out, y = args[output].detach(), args[target].detach()
    mean_of = (lambda a, b: per_element(a, b).mean())
    tries = []
    try:
        table = torch.broadcast_shapes(out.shape, y.shape)
        if tuple(out.shape) != tuple(y.shape):
            tries.append(("broadcast", mean_of(out, y),
                          f"Your value is exactly the mean over the {shape_str(table)} table of every "
                          "output against every target: outputs were compared with other samples' targets, "
                          "not only with their own."))
    except RuntimeError:
        pass
    if out.dim() == 2 and y.dim() == 1 and y.numel() == out.numel() and min(out.shape) > 1:
        N, K = out.shape
        tries.append(("flat-order", mean_of(out, y.view(K, N).T),
                      f"Your value is exactly the loss that pairs one side read output by output (output 0 "
                      f"of all {N} samples first) with the other read sample by sample: a value of sample n "
                      f"meets a target value of another sample. The flat target holds sample 0's {K} values "
                      "first, then sample 1's."))
    if out.dim() >= 2 and y.dim() == out.dim() and tuple(y.shape) != tuple(out.shape) \
            and sorted(y.shape) == sorted(out.shape) and sum(s > 1 for s in out.shape) > 1:
        tries.append(("table-order", mean_of(out, y.reshape(out.shape)),
                      f"Your value is exactly the loss that reads the {shape_str(y.shape)} {target} in "
                      f"memory order, value after value, as {shape_str(out.shape)}: its values are cut into "
                      "the new shape in the order they are stored, so most predictions meet a target of "
                      "another sample or another output."))
    for tag, value, sentence in tries:
        if abs(float(got) - float(value)) <= 1e-5 * max(1.0, abs(float(value))):
            return tag, sentence
    return None


def check_columns_trains(model, X: torch.Tensor, Y: torch.Tensor, loss_fn, *, steps: int = 150,
                         lr: float = 0.05, min_r2: float = 0.95, seed: int = 0, stored: tuple = (1, 0)) -> dict:
    """Train model with Adam on loss_fn(output, targets) where the targets come in a stored layout,
    ``Y.permute(stored)`` (default (1, 0): a (K, N) table, row k = output k of every sample), on two
    thirds of the samples; require R² >= min_r2 on the held-out third. Y is in the model's own layout:
    (N, K), or e.g. (N, H, K) with stored = (2, 0, 1) for one (N, H) table per output."""
    train, held_out = held_out_split(X.shape[0], seed)
    value = train_steps(model, X[train], Y[train].permute(*stored).contiguous(), loss_fn, steps=steps, lr=lr,
                        seed=seed)
    with _no_grad():
        pred = call(model, {"X": X[held_out]}, what="model(X)")
    score = check_r2(pred, Y[held_out], min_r2,
                     context=f"After {steps} training steps (final training loss {value:.4f}): ")
    return {"r2": score, "loss": value}


# ------------------------------------------------------------------------ a guard that must be loud
_BRACKETED = re.compile(r"[\(\[]\s*(\d+(?:\s*,\s*\d+)*)?\s*,?\s*[\)\]]")    # (4, 1)  [4, 1]  (4,)  ()  [4]
_BY = re.compile(r"(?<![\w.])(\d+(?:\s*[x×]\s*\d+)+)(?![\w.])")             # 4x1  4 × 1


def shapes_named(message: str) -> set:
    """The shapes a message writes out, as tuples of ints: (4, 1), [4, 1], torch.Size([4, 1]), (4,), 4x1."""
    found = {tuple(int(s) for s in re.split(r"\s*,\s*", m.group(1))) if m.group(1) else ()
             for m in _BRACKETED.finditer(message)}
    found |= {tuple(int(s) for s in re.split(r"\s*[x×]\s*", m.group(1))) for m in _BY.finditer(message)}
    return found


def check_raises(fn, args: dict, *, expected=(ValueError, AssertionError), why: str = "",
                 names: tuple = ()) -> BaseException:
    """fn(*args) must raise one of ``expected``: a guard that makes a silent broadcast loud.

    ``names`` are the arguments whose shapes the error message must write out (as a tuple, a list or
    torch.Size). Returns the error.
    """
    what = f"{getattr(fn, '__name__', 'your function')}({', '.join(args)})"
    kinds = " or ".join(e.__name__ for e in expected)
    before = {k: v.clone() for k, v in args.items() if isinstance(v, torch.Tensor)}
    try:
        with strict():
            value = fn(*args.values())
    except expected as exc:
        check_not_mutated(what, before, args)
        missing = [k for k in names if tuple(args[k].shape) not in shapes_named(str(exc))]
        if missing:
            said = str(exc).strip()
            said = f"'{said}'" if said else "is empty and"
            unnamed = " and of ".join(f"{k} {shape_str(args[k].shape)}" for k in missing)
            raise CheckFailed(f"{what} with {_args_text(args)} raised {type(exc).__name__}, as it should, "
                              f"but its message {said} does not name the shape of {unnamed}. The message "
                              f"must name the shapes of both {' and '.join(names)} (written as a tuple, a "
                              "list or torch.Size), so that whoever reads it sees which side is off. "
                              f"{why}".rstrip(), "guard-message")
        return exc
    except Exception as exc:  # the student's code crashed some other way: explain it
        how = ("issued a warning instead of raising" if isinstance(exc, Warning) else
               "raised an error of the loss itself: these shapes got past the shape check into the loss"
               if isinstance(exc, RuntimeError) else "raised another kind of error")
        raise CheckFailed(f"{what} with {_args_text(args)} raised {type(exc).__name__}: {str(exc).strip()}\n"
                          f"It {how}; the task asks for a {kinds} when the shapes differ. {why}".rstrip(),
                          "wrong-exception") from None
    shown = (f"{float(value.detach()):.4f}" if isinstance(value, torch.Tensor) and value.numel() == 1
             else describe(value))
    raise CheckFailed(f"{what} with {_args_text(args)} returned {shown} without raising: the shape mismatch "
                      f"is still silent. It should raise a {kinds}. {why}".rstrip(), "silent-broadcast")


def mismatched_shapes(N: int, K: int) -> list:
    """(label, output shape, target shape) pairs whose shapes differ, one per family a guard must catch:
    a size-1 dim on one side only, transposed (same ndim, same number of values), broadcastable pairs,
    and a same-ndim pair that does not broadcast. N and K should differ (and differ from 1 where they
    can)."""
    pairs = [("an (N, 1) output with an (N,) target", (N, 1), (N,)),
             ("an (N,) output with an (N, 1) target", (N,), (N, 1)),
             ("an (N, 1) output with a (1, N) target: same ndim, same number of values", (N, 1), (1, N)),
             ("an (N, K) output with a transposed (K, N) target", (N, K), (K, N)),
             ("an (N, K) output with an (N, 1) target, which broadcasts", (N, K), (N, 1)),
             ("an (N, K) output with a (1, K) target, which broadcasts", (N, K), (1, K)),
             ("an (N, K) output with a (K,) target, which broadcasts", (N, K), (K,)),
             ("an (N, K) output with an (N, K + 1) target", (N, K), (N, K + 1))]
    return [(label, a, b) for label, a, b in pairs if a != b]


# ------------------------------------------------------------------------ a metric, a training report
def _hit_readings(pred: torch.Tensor, y: torch.Tensor, tol: torch.Tensor) -> list:
    """(tag, value, sentence) for the readings of "every coordinate within its tolerance" that are not it."""
    close = (pred.detach() - y.detach()).abs() <= tol.detach()                # (N, K)
    N, K = close.shape
    return [("reduced-wrong-dim", float(close.all(dim=0).float().mean()),
             f"Your value is exactly the fraction of the {K} coordinates on which all {N} samples are "
             "within tolerance: the 'all' ran over the samples, one answer per coordinate, not over each "
             "sample's coordinates."),
            ("pairs-not-samples", float(close.float().mean()),
             f"Your value is exactly the fraction of all {N} x {K} (sample, coordinate) values that are "
             "within tolerance: a sample with one coordinate far off still counts for its other "
             "coordinates."),
            ("any-not-all", float(close.any(dim=1).float().mean()),
             "Your value is exactly the fraction of samples with at least one coordinate within tolerance; "
             "a hit needs every coordinate within its tolerance."),
            ("reduced-everything", float(close.all()),
             "Your value is exactly 1.0 if every value of every sample is within tolerance and 0.0 "
             "otherwise: one answer for the whole batch, not one per sample.")]


def check_hit_fraction(fn, pred: torch.Tensor, y: torch.Tensor, tol: torch.Tensor, want: float, *, case: str,
                       atol: float = 1e-6) -> float:
    """fn(pred, y, tol) must return the Python float ``want`` (the fraction of samples whose every coordinate
    is within its own tolerance, counted sample by sample) and leave its arguments as they were."""
    what = f"{getattr(fn, '__name__', 'your function')}(pred, y, tol)"
    args = {"pred": pred.clone(), "y": y.clone(), "tol": tol.clone()}
    got = call(fn, args, what=f"{what} ({case})")
    check_not_mutated(what, {"pred": pred, "y": y, "tol": tol}, args)
    if not isinstance(got, float):
        shown = f"{describe(got)} {got.detach().reshape(-1)[:3].tolist()}" if isinstance(got, torch.Tensor) \
            else describe(got).removesuffix(", not a tensor")
        raise CheckFailed(f"{what} ({case}) returned {shown}: the task asks for a Python float.",
                          "not-a-float")
    if not abs(got - want) <= atol:
        why, tag = "", "wrong-value"
        for name, value, sentence in _hit_readings(pred, y, tol):
            if abs(got - value) <= atol and _reading_confirmed(fn, name, y.shape[1], atol):
                why, tag = f" {sentence}", name
                break
        raise CheckFailed(f"{what} ({case}) with pred {describe(pred)}, y {describe(y)}, tol "
                          f"{describe(tol)} returned {got:.4f}, but {want:.4f} of the samples have every "
                          "coordinate within its tolerance (|pred[n, k] - y[n, k]| <= tol[k] for every k, "
                          f"counted sample by sample).{why}", tag)
    return got


def _hit_probe(K: int):
    """pred, y, tol (K coordinates) on which the right fraction and every reading of _hit_readings differ
    (where K allows: for K = 1 some readings are the same number)."""
    g = torch.Generator().manual_seed(11)
    best = None
    for _ in range(200):
        close = torch.rand(6, K, generator=g) < 0.7                           # (6, K) which values are close
        y = torch.randn(6, K, generator=g)                                    # (6, K)
        tol = 0.25 + torch.rand(K, generator=g)                               # (K,)
        pred = y + torch.where(close, 0.5, 2.0) * tol                         # (6, K)
        values = [float(close.all(dim=1).float().mean())] + [v for _, v, _ in _hit_readings(pred, y, tol)]
        distinct = len({round(v, 6) for v in values})
        if best is None or distinct > best[0]:
            best = (distinct, pred, y, tol)
        if distinct == len(values):
            break
    return best[1:]


def _reading_confirmed(fn, name: str, K: int, atol: float) -> bool:
    """A reading is named only if fn follows it on a second input too, where it is a number of its own (one
    coincidence is not a diagnosis)."""
    pred, y, tol = _hit_probe(K)
    right = float(((pred - y).abs() <= tol).all(dim=1).float().mean())
    readings = {n: v for n, v, _ in _hit_readings(pred, y, tol)}
    value = readings[name]
    if any(abs(value - v) <= atol for n, v in readings.items() if n != name) or abs(value - right) <= atol:
        return False
    try:
        with strict(), _no_grad():
            got = fn(pred.clone(), y.clone(), tol.clone())
            # "one answer for the batch" is 0.0 here: it must also say 1.0 when every value is close
            every = name != "reduced-everything" or float(fn(y.clone(), y.clone(), tol.clone())) == 1.0
        return abs(float(got) - value) <= atol and every
    except Exception:  # noqa: BLE001 - a hypothesis that does not apply
        return False


def check_weighted_history(losses, *, steps: int, first: float, out: torch.Tensor, y: torch.Tensor,
                           w: torch.Tensor, what: str = "train_regressor") -> None:
    """check_loss_history for a loop on the weighted MSE sum_n w[n] (out[n] - y[n])² / sum_n w[n]; a first
    loss that is exactly a known wrong reading (out (N, 1), y (N,), w (N,) of step 0) is named."""
    try:
        check_loss_history(losses, steps=steps, first=first, what=what,
                           first_is="the weighted mean squared error of the untrained model")
    except CheckFailed as failed:
        got = losses[0] if isinstance(losses, list) and losses and isinstance(losses[0], float) else None
        if got is None or "first step" not in str(failed):
            raise
        err = ((out.detach().reshape(-1) - y.detach().reshape(-1)) ** 2).double()            # (N,)
        wd = w.detach().reshape(-1).double()                                                 # (N,)
        N = err.numel()
        readings = [(float(err.sum()), f"It is exactly the plain sum of the {N} squared errors: the weights "
                     "cancel out, as they do when every error is multiplied by every weight (an N x N table) "
                     "and the sum is divided by the sum of the weights."),
                    (float(err.mean()), "It is exactly the unweighted mean squared error: the weights play no "
                     "part in it."),
                    (float((wd * err).sum() / N), f"It is exactly the weighted sum of the squared errors "
                     f"divided by the {N} samples, not by the sum of the weights.")]
        for value, sentence in readings:
            if abs(got - value) <= 1e-4 * max(1.0, abs(value)) and abs(value - first) > 1e-4 * max(1.0, abs(first)):
                raise CheckFailed(f"{failed}\n{sentence}", failed.tag) from None
        raise


def check_loss_history(losses, *, steps: int, first: float, what: str = "train_regressor",
                       first_is: str = "the mean squared error of the untrained model, each output against "
                                       "its own target") -> None:
    """A training loop's report: a list of ``steps`` Python floats whose first is ``first`` (what
    ``first_is`` says it is: by default the mean squared error of the untrained model)."""
    if not isinstance(losses, list):
        raise CheckFailed(f"{what} returned {describe(losses).removesuffix(', not a tensor')}; it should "
                          f"return a list with one Python float per step ({steps} here).", "loss-report")
    kinds = sorted({type(v).__name__ for v in losses if not isinstance(v, float)})
    if len(losses) != steps or kinds:
        raise CheckFailed(f"{what} returned a list of {len(losses)} entries"
                          + (f", some of them {', '.join(kinds)}, not Python floats" if kinds else "")
                          + f"; it should hold one Python float per step, {steps} here.", "loss-report")
    if not abs(losses[0] - first) <= 1e-4 * max(1.0, abs(first)):
        ratio = f" ({losses[0] / first:.3g} times that)" if first else ""
        raise CheckFailed(f"{what} reports {losses[0]:.4f} as the loss of its first step, but {first_is} "
                          f"is {first:.4f}{ratio}.", "loss-report")
