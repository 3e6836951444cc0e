"""The shared core of the checks: data, references, and checks that tests reuse.  Each takes the student's function or model as an argument
(ARENA style), so one broken cell never cascades into the next exercise.

A failing check raises :class:`CheckFailed` (an AssertionError) whose message names the
shapes seen, what was expected and the fix to consider.  Anything the student's code
raises is caught and explained; a checker never crashes on a tensor of the wrong rank.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import operator
import warnings

import torch

from ..diagnosis import a_type, describe, diagnose, explain_error, shape_str

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


def topic(name: str) -> None:
    """The exercises notebook's setup cell names its topic: tp.hint() then finds this topic's hints."""
    from .. import hints

    hints.use_topic(name)


@contextlib.contextmanager
def exercise(exercise_id: str):
    """The block of a test cell: warnings are errors (strict), and a failure says how to ask for a hint.

    The failure's message says what the student's code produced and which rule it breaks; the fix in
    code is the last rung of the exercise's hint ladder (tp.hint), shown when asked, or by itself after
    the same failure three times in a row.
    """
    from .. import hints

    try:
        with strict():
            yield
    except AssertionError as exc:                 # a CheckFailed, or a plain assert of the cell
        tag = getattr(exc, "tag", "check-assertion")
        hints.failed(exercise_id, tag)
        pointer = hints.pointer(exercise_id)
        raise CheckFailed(f"{exc}\n{pointer}" if pointer else str(exc), tag) from None
    hints.passed(exercise_id)


# ----------------------------------------------------------------------------- data


def separable_data(N: int = 96, n_features: int = 4, C: int = 3, seed: int = 0):
    """A tiny classification set a small MLP fits in a few dozen steps: X (N, F), y (N,)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(C, n_features, generator=g) * 3.0      # (C, F)
    y = torch.arange(N) % C                                      # (N,)
    X = centers[y] + 0.5 * torch.randn(N, n_features, generator=g)  # (N, F)
    return X, y


# ------------------------------------------------------------------------ references


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of samples whose highest logit is their label, counted one by one."""
    hits = sum(int(int(logits[n].argmax()) == int(y[n])) for n in range(logits.shape[0]))
    return hits / logits.shape[0]


# ------------------------------------------------------------------------ the expected answers
REFERENCES = None   # the grader's references (targetpractice.instructor.references sets this)
_RECORDED = None


def expected(exercise: str):
    """What the exercise's function must return, as a function of the same arguments.

    With the grader's references present (grading, the instructor's kernels) it is the reference.
    In a student's notebook it answers from the values the build recorded for the quick check's own
    inputs, in order, and says so if it is called with other shapes: the references stay out of reach.
    """
    if REFERENCES is not None:
        return REFERENCES(exercise)
    global _RECORDED
    if _RECORDED is None:
        import json
        from pathlib import Path

        _RECORDED = json.loads((Path(__file__).with_name("expected.json")).read_text())
    if exercise not in _RECORDED:
        raise CheckFailed(f"checks.expected({exercise!r}) has no recorded answer: run the quick check as "
                          "written, or update the course library.", "authoring")
    return _Recorded(exercise, _RECORDED[exercise])


class _Recorded:
    """The reference's values for the quick check's inputs, replayed call by call."""

    def __init__(self, exercise: str, calls: list):
        self.exercise, self.calls, self.n = exercise, calls, 0

    def __call__(self, *args):
        call_ = self.calls[self.n % len(self.calls)]
        self.n += 1
        shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
        if shapes != call_["shapes"]:
            raise CheckFailed(f"the quick check of {self.exercise} knows its answer only for its own inputs "
                              f"(shapes {call_['shapes']}), not for {shapes}: run the check as written.",
                              "authoring")
        if "hashed" in call_:                    # a table of true shapes, kept as digests: never revealed
            return {k: HashedShape(self.exercise, k, v) for k, v in call_["hashed"].items()}
        dtype = getattr(torch, call_["dtype"])
        value = torch.tensor([float.fromhex(v) for v in call_["value"]], dtype=dtype).reshape(call_["shape"])
        return value.item() if call_.get("python") else value


def record_expected(exercise: str, real, sink: dict):
    """The build's wrapper around a reference: calls it and keeps what expected.json replays."""
    def recording(*args):
        out = real(*args)
        if isinstance(out, dict):                # the true shapes of a prediction exercise
            sink.setdefault(exercise, []).append({
                "shapes": [list(a.shape) for a in args if isinstance(a, torch.Tensor)],
                "hashed": {k: HashedShape.digest(exercise, k, tuple(v)) for k, v in out.items()}})
            return out
        t = out.detach() if isinstance(out, torch.Tensor) else torch.tensor(out, dtype=torch.float64)
        sink.setdefault(exercise, []).append({
            "shapes": [list(a.shape) for a in args if isinstance(a, torch.Tensor)],
            "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."),
            "python": not isinstance(out, torch.Tensor),
            "value": [float(v).hex() for v in t.reshape(-1).tolist()]})
        return out
    return recording


# --------------------------------------------------------------------------- helpers
def _value_text(v) -> str:
    """An argument as a message names it: a tensor by shape and dtype, a number by value, a model by class."""
    if isinstance(v, torch.Tensor) or v is None:
        return describe(v)
    if isinstance(v, (bool, int, float, str)):
        return repr(v)
    return a_type(v)


def _args_text(args: dict) -> str:
    return ", ".join(f"{k} {_value_text(v)}" for k, v in args.items())


def call(fn, args: dict, *, loss=None, what: str | None = None, explain=None):
    """Call the student's fn(*args); turn any exception or warning into a CheckFailed that explains it.

    ``explain(exc, args)`` -> (tag, text), where given, explains the error for a topic's shapes instead.
    """
    what = what or f"{getattr(fn, '__name__', 'your function')}({', '.join(args)})"
    try:
        with strict():
            return fn(*args.values())
    except CheckFailed:
        raise
    except Exception as exc:  # the student's bug, not ours: explain it
        if explain is not None:
            tag, text = explain(exc, args)
            raise CheckFailed(f"{what} raised an error when called with {_args_text(args)}:\n{text}", tag) from None
        diag = explain_error(exc)
        tensors = [v for v in args.values() if isinstance(v, torch.Tensor)]
        if loss is not None and len(tensors) >= 2 and diag.tag == "unknown":
            diag = diagnose(loss, tensors[0], tensors[1])
        raise CheckFailed(f"{what} raised an error when called with {_args_text(args)}:\n{diag.problem}",
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
    """Largest difference of two tensors of the same shape; inf if the shapes differ or a value is not finite
    (never broadcast: a student's (1, K) against (K, 1) is a mismatch, not a K x K table)."""
    if tuple(a.shape) != tuple(b.shape):
        return float("inf")
    gap = float(_max(_abs(a.detach().double() - b.detach().double()))) if a.numel() else 0.0
    return gap if math.isfinite(gap) else float("inf")


# ---------------------------------------------------------------------------- checks
def check_not_mutated(what: str, before: dict, after: dict) -> None:
    """The student's function must leave its arguments as it got them: an in-place `y -= 1` or
    `y.squeeze_()` changes the caller's tensors, and the next use of them is wrong."""
    for name, old in before.items():
        new = after.get(name)
        if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and not _gap(old, new) == 0:
            raise CheckFailed(f"{what} changed its argument {name} in place: it was {describe(old)} and is "
                              f"{describe(new)}" + ("" if old.shape != new.shape else " with other values")
                              + " afterwards. The caller's tensor is changed too, so the next loss, metric or "
                              "epoch that uses it sees wrong data. A function must leave its inputs as they were.",
                              "mutates-input")


_LOGIT_LOSSES = ("CrossEntropyLoss", "BCEWithLogitsLoss")


def _why_wrong(fn, reference, args: dict, out, expected, *, loss, atol: float) -> tuple:
    """(tag, sentence): what the student's value is, judged from what it produced, not from the inputs."""
    floats = [k for k, v in args.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    first = floats[0] if floats else None
    name = None
    if loss is not None:
        from ..contracts import contract_for

        name = contract_for(loss).name
    # probabilities into a loss that applies softmax / sigmoid itself (needs the real reference: at
    # grading and in the instructor's tests; a student's kernel only has the recorded answers)
    if first is not None and not isinstance(reference, _Recorded) and name in (None, *_LOGIT_LOSSES):
        x = args[first]
        squash = [("softmax(dim=1)", lambda t: t.softmax(dim=1))] if x.dim() >= 2 and name != "BCEWithLogitsLoss" \
            else []
        squash += [("sigmoid", torch.sigmoid)]
        for label, f in squash:
            try:
                with strict(), _no_grad():
                    again = reference(*{k: (f(v) if k == first else v) for k, v in args.items()}.values())
            except Exception:  # noqa: BLE001 - a hypothesis that does not apply
                continue
            if _gap(out, again) <= atol:
                tag = "softmax-before-loss" if label.startswith("softmax") else "sigmoid-before-loss"
                return tag, (f"Your value is exactly the loss of {label} applied to {first}: the scores were turned "
                             f"into probabilities before a loss that applies {label.split('(')[0]} itself, so it "
                             "is applied twice. Such a loss stalls at a floor and trains slowly.")
    # a value that does not move when the scores move
    if first is not None:
        g = torch.Generator().manual_seed(7)
        # fresh moderate scores, not a nudge: a loss saturated at confident scores is flat there, not constant
        moved = {k: (1.5 * torch.randn(v.shape, generator=g, dtype=v.dtype) if k == first else v.clone())
                 for k, v in args.items()}
        try:
            with _no_grad():
                other = fn(*moved.values())
            if isinstance(other, torch.Tensor) and other.shape == out.shape and _gap(other, out) == 0:
                return "constant", (f"It returns the same value for other {first}: the result does not depend "
                                    f"on {first} at all.")
        except Exception:  # noqa: BLE001 - the main check already reported how it behaves
            pass
    # a sum where a mean is wanted, or the reverse
    want, got = float(expected.detach()), float(out.detach())
    counts = sorted({int(v.numel()) for v in args.values() if isinstance(v, torch.Tensor)}
                    | {int(v.shape[0]) for v in args.values() if isinstance(v, torch.Tensor) and v.dim()}
                    | {int(v.shape[0] * v.shape[-1]) for v in args.values()
                       if isinstance(v, torch.Tensor) and v.dim() > 1} - {0, 1})
    if abs(want) > 1e-6:
        for k in counts:
            if abs(got - k * want) <= 1e-4 * abs(k * want):
                return "reduction", f"Your value is exactly {k} times the expected one: a sum where a mean is wanted?"
            if abs(got * k - want) <= 1e-4 * abs(want):
                return "reduction", (f"Your value is exactly the expected one divided by {k}: the mean is taken "
                                     "over the wrong number of elements?")
    if name in ("CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss") and got < -atol:
        return "negative-loss", (f"A {name} is never negative, and yours is {got:.4f}: log-probabilities "
                                 "(or probabilities) are missing where the loss needs them.")
    return "wrong-value", ""


def check_loss(fn, reference, args: dict, *, loss=None, grad_of: str | None = "logits",
               atol: float = 1e-5, label: str = "") -> None:
    """fn(*args) must be a scalar loss equal to reference(...) in value and, for args[grad_of], in gradient,
    and must leave its arguments unchanged.

    ``reference`` takes the same args; it is the loss computed another way. A failure says what the
    student's code produced (and, where it can tell, which mistake makes exactly that value), never the
    code that fixes it: that is the exercise's hint.
    """
    what = f"{getattr(fn, '__name__', 'your function')}({', '.join(args)}){label}"
    mine = {k: (v.detach().clone().requires_grad_(True) if k == grad_of else v.clone())
            for k, v in args.items()}
    theirs = {k: (v.detach().clone().requires_grad_(True) if k == grad_of else v.clone())
              for k, v in args.items()}
    out = _require_tensor(call(fn, mine, loss=loss, what=what), what, shape=())
    check_not_mutated(what, args, mine)
    with strict():
        expected = reference(*theirs.values())
    gap = _gap(out, expected)
    if not gap <= atol:
        tag, why = _why_wrong(fn, reference, args, out, expected, loss=loss, atol=atol)
        raise CheckFailed(
            f"{what} returned {float(out.detach()):.6f}, but the loss computed sample by sample is "
            f"{float(expected.detach()):.6f} (inputs: {_args_text(args)})." + (f"\n{why}" if why else ""), tag)
    if grad_of is not None and expected.requires_grad:      # a recorded answer has no gradient to compare
        if not out.requires_grad:
            raise CheckFailed(f"{what} returned a loss that does not depend on {grad_of}: no gradient flows "
                              "back through it, so nothing would learn.", "no-gradient")
        out.backward()
        expected.backward()
        g_mine, g_ref = mine[grad_of].grad, theirs[grad_of].grad   # _gap: inf if not finite
        if g_mine is None or not _gap(g_mine, g_ref) <= 10 * atol:
            raise CheckFailed(f"{what}: the value is right, but the gradient reaching {grad_of} differs from the "
                              f"reference (largest difference "
                              f"{(_gap(g_mine, g_ref) if g_mine is not None else float('inf')):.3g}), "
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
        if not leak <= 0:
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


def check_batch_independence(model, X: torch.Tensor) -> None:
    """Changing sample 0 must not change the outputs of the other samples (D5)."""
    if hasattr(model, "eval"):
        model.eval()
    with _no_grad():
        X2 = X.clone()
        X2[0] = X2[0] + 1.0
        a = _require_tensor(call(model, {"X": X}, what="model(X)"), "model(X)")
        b = _require_tensor(call(model, {"X": X2}, what="model(X)"), "model(X)", shape=a.shape)
    if a.dim() == 0 or a.shape[0] != X.shape[0]:
        raise CheckFailed(f"model(X) gives {describe(a)} for X {describe(X)}: one row per sample expected.",
                          "output-shape")
    gap = _gap(a[1:], b[1:])
    if not gap <= 1e-6:
        raise CheckFailed(f"Changing sample 0 of X {describe(X)} changed the outputs of the other samples by up to "
                          f"{gap:.3g}: information flows from one sample to another, and a sample's scores must "
                          "depend on that sample alone.", "batch-mixing")


def check_permutation_equivariance(per_sample_fn, args: dict, seed: int = 0) -> None:
    """Shuffling all inputs along dim 0 must shuffle the per-sample losses the same way (D6)."""
    n = next(v for v in args.values() if isinstance(v, torch.Tensor)).shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    what = getattr(per_sample_fn, "__name__", "your function")
    a = _require_tensor(call(per_sample_fn, args, what=what), what)
    b = _require_tensor(call(per_sample_fn, {k: v[perm] for k, v in args.items()}, what=what), what)
    if a.shape != b.shape or a.dim() == 0 or not _gap(a[perm], b) <= 1e-5:
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
    At grading, a model that lives in the student's kernel trains there (its `__tp_train__`); the
    checks then score it on samples it never saw. A student's loss trains the grader's model here.
    """
    if getattr(type(model), "__tp_remote__", False):
        return model.__tp_train__(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    params = list(model.parameters()) if isinstance(model, torch.nn.Module) else []
    if not params:
        raise CheckFailed(f"expected a model (an nn.Module with parameters), got {describe(model)}.", "not-a-model")
    # At grading, a student's loss may answer all steps at once (`__tp_trace__`); each answer is used
    # only for the very output this loop computes, else the loss is called as usual.
    known = loss_fn.__tp_trace__(model, X, y, steps=steps, lr=lr, seed=seed) \
        if getattr(type(loss_fn), "__tp_remote__", False) else None
    torch.manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    value = float("nan")
    for step in range(steps):
        opt.zero_grad()
        out = call(model, {"X": X}, what="model(X)")
        loss = known(step, out) if known is not None else None
        if loss is None:
            loss = _require_tensor(call(loss_fn, {"output": out, "y": y}, what="the loss"), "the loss", shape=())
        if not loss.requires_grad:
            raise CheckFailed("The loss does not depend on the model's output (detached? computed from "
                              ".item(), argmax or a threshold?), so nothing would learn.", "no-gradient")
        loss.backward()
        opt.step()
        value = float(loss.detach())
    model.eval()
    return value


def held_out_split(N: int, seed: int = 0):
    """Indices (train, held_out): two thirds to train on, a third the model never sees until it is scored."""
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(1000 + seed))
    cut = max(1, (2 * N) // 3)
    return perm[:cut], perm[cut:]


def rows(t: torch.Tensor, N: int, index: torch.Tensor) -> torch.Tensor:
    """The samples ``index`` of a target with N samples, also when it comes flattened to (N*K,)."""
    return t[index] if t.shape[0] == N else t.reshape(N, -1)[index].reshape(-1)


def loss_after_training(model, X: torch.Tensor, y: torch.Tensor, loss_fn) -> float:
    """The loss of the trained model on (X, y), computed again (not the value training reported): the
    checks pass held-out samples, whose labels a model trained elsewhere never saw."""
    with _no_grad():
        out = call(model, {"X": X}, what="model(X)")
        return float(_require_tensor(call(loss_fn, {"output": out, "y": y}, what="the loss"), "the loss",
                                     shape=()).detach())


def train_held_out(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int, lr: float, seed: int = 0):
    """Train on two thirds of (X, y); return the held-out indices and the loss there, recomputed on
    samples whose labels training never saw."""
    N = X.shape[0]
    train, held_out = held_out_split(N, seed)
    train_steps(model, X[train], rows(y, N, train), loss_fn, steps=steps, lr=lr, seed=seed)
    return held_out, loss_after_training(model, X[held_out], rows(y, N, held_out), loss_fn)


def check_trains(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 150, lr: float = 0.05,
                 min_accuracy: float = 0.95, max_loss: float | None = None, seed: int = 0,
                 labels: torch.Tensor | None = None) -> dict:
    """Train model with Adam on two thirds of (X, y); require a stated accuracy on the held-out third
    (and its loss below max_loss).

    ``labels`` are the 0-based class ids (N,) the accuracy is measured against (default: y).
    """
    N = X.shape[0]
    held_out, value = train_held_out(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        out = _require_tensor(call(model, {"X": X[held_out]}, what="model(X)"), "model(X)")
        acc = _accuracy(out, (y if labels is None else labels).reshape(N, -1)[held_out, 0])
    if not acc >= min_accuracy:
        raise CheckFailed(f"After {steps} training steps the accuracy on held-out samples is {acc:.3f}; it should "
                          f"reach {min_accuracy:.2f} on this easy data (held-out loss {value:.4f}).", "does-not-learn")
    if max_loss is not None and not value <= max_loss:
        raise CheckFailed(f"After {steps} training steps the loss on held-out samples is still {value:.4f} (accuracy {acc:.3f}); "
                          f"it should fall below {max_loss}. A loss stuck at a floor usually means softmax "
                          "or sigmoid was applied before a loss that applies it itself.", "loss-floor")
    return {"accuracy": acc, "loss": value}


class HashedShape:
    """A true shape a student's kernel can compare a prediction with, but not read: its salted digest.
    (The grader compares with the shape itself.)"""

    def __init__(self, exercise: str, name: str, digest: str):
        self.exercise, self.name, self.hexdigest = exercise, name, digest

    @staticmethod
    def digest(exercise: str, name: str, shape: tuple) -> str:
        import hashlib

        return hashlib.sha256(f"targetpractice:{exercise}:{name}:{tuple(int(s) for s in shape)}".encode()).hexdigest()

    def matches(self, guess: tuple) -> bool:
        return self.digest(self.exercise, self.name, guess) == self.hexdigest

    def __repr__(self):
        return f"<the true shape of {self.name}, kept as a digest>"


def _matches(guess: tuple, truth) -> bool:
    return truth.matches(guess) if isinstance(truth, HashedShape) else guess == tuple(truth)


def _as_shape(value):
    """A prediction as a tuple of ints; None unless every size is a whole number (28.5 is not 28)."""
    try:
        sizes = list(value)
    except TypeError:
        return None
    whole = []
    for s in sizes:
        if isinstance(s, bool):
            return None
        if isinstance(s, float):
            if not s.is_integer():
                return None
            whole.append(int(s))
            continue
        try:
            whole.append(operator.index(s))       # ints, numpy ints, 0-d integer tensors
        except TypeError:
            return None
    return tuple(whole)


def check_predictions(predicted: dict, truths: dict, why: dict | None = None, *, only=None) -> None:
    """Predict-then-run: every prediction checked at once, with feedback on every miss.

    ``predicted`` maps an item's name to the student's tuple; ``truths`` the true shapes (from
    ``checks.expected(...)``: the code they describe is not in the notebook, so nothing can be run and
    pasted). A miss never shows the answer; it asks for one sentence in ``why[name]`` on which operation
    was misread, and stays a miss until the prediction is right. ``only`` limits the items checked.
    """
    names = [n for n in truths if only is None or n in only]
    table = frozenset(truths)
    missing = [n for n in names if n not in predicted]
    if missing:
        raise CheckFailed(f"no prediction for {', '.join(missing)}: write each as a tuple of ints.", "predict-shape")
    misses, unexplained = [], []
    for name in names:
        guess = _as_shape(predicted[name])
        if guess is None:
            misses.append(f"  {name}: write the shape as a tuple of ints such as (4, 5); got {predicted[name]!r}.")
            continue
        if not _matches(guess, truths[name]):
            MISSED.add((table, name))
            if not _explained(why, name):
                unexplained.append(name)
            misses.append(f"  {name}: you predicted {shape_str(guess)}, and that is not its shape. Go through it one "
                          "operation at a time: which dims does each keep, remove, add or broadcast?")
    if misses:
        ask = (f"\nFor each miss, write one sentence in why[...] saying which operation you misread, e.g. "
               f"why[{unexplained[0]!r}] = \"...\"; then correct the prediction." if unexplained else "")
        raise CheckFailed(f"{len(misses)} of {len(names)} predictions missed:\n" + "\n".join(misses) + ask,
                          "predict-shape")
    owed = [n for n in names if (table, n) in MISSED and not _explained(why, n)]
    if owed:                                     # right now, but a miss of this session still owes its sentence
        raise CheckFailed(f"All {len(names)} predictions are right now. You missed {', '.join(owed)} on the way: write "
                          f"one sentence for each in why[...] (e.g. why[{owed[0]!r}] = \"...\") saying which operation "
                          "you had misread.", "predict-why")


MISSED = set()       # (table, item) predictions missed in this kernel: each owes a sentence in `why`


def _explained(why, name: str) -> bool:
    sentence = (why or {}).get(name, "") if isinstance(why, dict) else ""
    return isinstance(sentence, str) and len(sentence.split()) >= 5


def check_shape(name: str, predicted, actual) -> None:
    """A 'predict the shape' answer: a tuple of ints equal to the real shape."""
    actual = tuple(actual)
    guess = _as_shape(predicted)
    if guess is None:
        raise CheckFailed(f"{name}: write the shape as a tuple of ints such as (4, 5); got {predicted!r}.",
                          "predict-shape")
    if guess != actual:
        raise CheckFailed(f"{name}: you predicted {shape_str(guess)}, and that is not its shape. Go through the "
                          "expression one operation at a time: which dims does each keep, remove, add or "
                          "broadcast?", "predict-shape")
