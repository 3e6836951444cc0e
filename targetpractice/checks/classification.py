"""Checks for topic 01, classification: random logits with class ids, cross-entropy computed from its
definition, the labels of several annotators, the perfect-prediction floor (softmax applied before
CrossEntropyLoss), a model's raw scores, a (top-k) accuracy and a table of per-class rates judged by what
they returned."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..diagnosis import a_type, describe
from .core import CheckFailed, _abs, _no_grad, _require_tensor, call, check_not_mutated


def class_batch(N: int, C: int, seed: int = 0, extra: tuple = ()):
    """Random logits (N, C, *extra) float32 and class ids (N, *extra) int64, every class < C."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, C, *extra), generator=g)           # (N, C, ...)
    y = torch.randint(0, C, (N, *extra), generator=g)           # (N, ...)
    return logits, y


def annotator_labels(y: torch.Tensor, A: int, C: int, seed: int = 0, agree: float = 0.75) -> torch.Tensor:
    """One-hot labels from A annotators, (N, A, C) int64: each annotator gives the true class y[n] with
    probability ``agree``, else a class drawn at random."""
    g = torch.Generator().manual_seed(seed)
    N = y.shape[0]
    guess = torch.randint(0, C, (N, A), generator=g)                       # (N, A)
    keep = torch.rand(N, A, generator=g) < agree                            # (N, A)
    return F.one_hot(torch.where(keep, y[:, None].expand(N, A), guess), C)  # (N, A, C)


def annotated_batch(N: int, A: int, C: int, seed: int = 0):
    """Random logits (N, C) float32 and the one-hot labels of A annotators who often disagree, (N, A, C) int64."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, C), generator=g)                               # (N, C)
    chosen = torch.randint(0, C, (N, A), generator=g)                       # (N, A)
    return logits, F.one_hot(chosen, C)                                     # (N, C), (N, A, C)


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


def check_raw_scores(model, X: torch.Tensor, *, what: str = "model(X)") -> None:
    """A model trained with CrossEntropyLoss must hand it raw scores (any real numbers), not probabilities.

    Judged from what the model returns for X and for 10 * X: scores that all stay between 0 and 1, or
    rows that are all >= 0 and all sum to the same value, have been squashed (a softmax over either dim,
    a sigmoid, a scaled softmax); CrossEntropyLoss then squashes them again and the loss keeps a floor.
    """
    outs, seen = [], None
    with _no_grad():
        for scale in (1.0, 10.0):
            out = _require_tensor(call(model, {"X": scale * X}, what=what), what)
            seen = seen or describe(out)
            outs.append(out.detach().double())
    values = torch.cat([o.reshape(-1) for o in outs])
    if values.numel() == 0 or outs[0].dim() != 2:
        return                                  # no scores to judge: the shape checks say what is wrong
    lo, hi = float(values.min()), float(values.max())
    row_sums = torch.cat([o.sum(dim=1) for o in outs])              # one per sample
    col_sums = torch.cat([o.sum(dim=0) for o in outs])              # one per class
    head = (f"{what} returned scores {seen} that, for these inputs and for inputs 10 times "
            f"larger, are all between {lo:.3f} and {hi:.3f}")
    rule = ("CrossEntropyLoss applies log_softmax to its input itself and wants raw scores, any real "
            "numbers: these get squashed twice, so the loss cannot fall below a floor (the accuracy can "
            "still look fine).")

    def same(sums):
        return float(_abs(sums - sums[0]).max()) <= 1e-4 * max(1.0, abs(float(sums[0])))

    if lo >= 0 and hi <= 1:
        if same(row_sums):
            raise CheckFailed(f"{head}, and every row sums to {float(row_sums[0]):.3f}: probabilities "
                              f"over the classes, not raw scores. {rule}", "softmax-before-loss")
        if same(col_sums):
            raise CheckFailed(f"{head}, and every column sums to {float(col_sums[0]):.3f}: probabilities "
                              f"over the samples of the batch, not raw scores of each sample. {rule}",
                              "softmax-before-loss")
        raise CheckFailed(f"{head}: squashed into (0, 1) one by one, not raw scores. {rule}",
                          "sigmoid-before-loss")
    if lo >= 0 and same(row_sums):
        raise CheckFailed(f"{head}, and every row sums to the same {float(row_sums[0]):.3f}: normalised "
                          f"over the classes (a scaled probability), not raw scores. {rule}",
                          "softmax-before-loss")


def check_classifier_shape(model, n_features: int, n_classes: int, *, sizes=(1, 2, 7),
                           what: str = "model(X)") -> None:
    """The model must map X (N, n_features) to one row of n_classes scores per sample, (N, n_classes),
    for every batch size (N = 1 and an odd N included)."""
    for N in sizes:
        X = torch.randn(N, n_features, generator=torch.Generator().manual_seed(N))     # (N, F)
        out = call(model, {"X": X}, what=f"{what} with N = {N}")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (N, n_classes):
            raise CheckFailed(f"{what} maps X {describe(X)} to {_kind(out)}; the model must give one row "
                              f"of n_classes = {n_classes} scores per sample, ({N}, {n_classes}).",
                              "output-shape")


def _kind(x) -> str:
    """'a (6, 6) float32 tensor', 'a float', 'an ndarray': what a function returned, in words."""
    if isinstance(x, torch.Tensor):
        return f"a {describe(x)} tensor"
    if x is None:
        return "None"
    return a_type(x)


def _top(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k): the ids of each sample's k highest logits."""
    return logits.topk(k, dim=1).indices


def _why_accuracy(value: float, want: float, logits: torch.Tensor, y: torch.Tensor, k: int = 1) -> tuple:
    """(tag, sentence): which mistake gives exactly this value, judged from the value alone."""
    N = logits.shape[0]
    hits = round(want * N)
    labels = y.reshape(-1)
    top = _top(logits, k)                                                   # (N, k)
    pairs = (top[:, :, None] == labels[None, None, :]).any(dim=1)           # (N, N): sample i's top k, label j
    if k > 1:
        top1 = float((top[:, 0] == labels).double().mean())
        cells = float((top == labels[:, None]).double().mean())
        if abs(value - top1) < 1e-6 and abs(want - top1) > 1e-6:
            return "ignores-k", (f"{value:.4f} is the top-1 accuracy: only each sample's best class was "
                                 f"compared with its label, not its k = {k} best.")
        if abs(value - cells) < 1e-6:
            return "wrong-count", (f"{value:.4f} is the fraction of all N x k = {N} x {k} (sample, rank) cells "
                                   "that hold the label: a sample whose label is among its k best should count "
                                   "once, as 1, not as 1/k.")
    pair_fraction, pair_count = float(pairs.double().mean()), int(pairs.sum())
    some_label = [float(pairs.any(dim=d).double().mean()) for d in (0, 1)]
    if N > 1 and abs(value - pair_fraction) < 1e-6:
        return "broadcast", (f"{value:.4f} is the fraction of matches among all {N} x {N} = {N * N} "
                             "(prediction, label) pairs: each sample's prediction was compared with the "
                             "label of every sample, not only with its own.")
    if N > 1 and abs(value - pair_count / N) < 1e-6:
        return "broadcast", (f"{value:.4f} is the number of matches among all {N} x {N} (prediction, "
                             f"label) pairs, {pair_count}, divided by N = {N}: each sample's prediction was "
                             "compared with the label of every sample, not only with its own.")
    if N > 1 and any(abs(value - v) < 1e-6 for v in some_label):
        return "broadcast", (f"{value:.4f} is the fraction of samples whose prediction is the label of "
                             "some sample, not necessarily its own: each prediction was compared with the "
                             "label of every sample and any match counted.")
    if not 0 <= value <= 1:
        return "not-a-fraction", "A fraction of the samples lies between 0 and 1."
    if hits and value > 0 and abs(hits / value - round(hits / value)) < 1e-4 and round(hits / value) != N:
        return "wrong-count", (f"{value:.4f} is the {hits} right samples divided by {round(hits / value)}, "
                               f"not by the batch size N = {N}.")
    if value == 0 and want > 0:
        return "no-match", ("Not one sample counted as right: what was compared with the labels never equals "
                            "a label (the highest scores themselves, rather than the class ids that hold them?).")
    if 0 < want < 1 and abs(value - (1 - want)) < 1e-6:
        return "inverted", "That is the fraction of samples whose highest logit is NOT their label."
    return "wrong-value", ""


def check_accuracy(fn, logits: torch.Tensor, y: torch.Tensor, want: float, *, k: int | None = None,
                   python_float: bool = False, label: str = "") -> None:
    """fn(logits, y) must return `want`, the fraction of samples whose highest logit is their label, and
    leave its arguments unchanged; with python_float, as a Python float. With ``k``, fn(logits, y, k) must
    return the top-k accuracy: the fraction of samples whose label is among their k highest logits.

    ``y`` holds one label per sample (any shape with N elements: (N,) or an (N, 1) column).
    A wrong value is explained from the value itself: the fraction of matches among all N x N
    (prediction, label) pairs is a broadcast comparison, a value above 1 is not a fraction.
    """
    name = getattr(fn, '__name__', 'your function')
    what = f"{name}(logits, y{'' if k is None else f', k={k}'}){label}"
    args = {"logits": logits, "y": y}
    mine = {key: v.clone() for key, v in args.items()}
    got = call(fn, mine if k is None else {**mine, "k": k}, what=what)
    check_not_mutated(what, args, mine)
    N = logits.shape[0]
    inputs = f"logits {describe(logits)} and y {describe(y)}"
    right = ("their label as their highest logit" if k is None
             else f"their label among their k = {k} highest logits")
    if isinstance(got, torch.Tensor) and got.numel() != 1:
        raise CheckFailed(f"{what} returned {_kind(got)} for {inputs}: one number for the whole batch was "
                          f"expected, the fraction of the N = {N} samples that have {right}.", "output-shape")
    try:
        close = bool(abs(got - want) < 1e-6)     # compared as the value itself: a float, a 0-d tensor, ...
    except Exception:  # noqa: BLE001 - None, a string, ...: not a number
        close = False
    if not close:
        try:
            value = float(got)
        except Exception:  # noqa: BLE001
            raise CheckFailed(f"{what} returned {_kind(got)} for {inputs}, not a number"
                              + (": did the function forget to return?" if got is None else "."),
                              "not-a-number") from None
        tag, why = _why_accuracy(value, want, logits, y, k or 1)
        raise CheckFailed(f"{what} returned {value:.4f} for {inputs}, but {round(want * N)} of the {N} "
                          f"samples have {right}: the accuracy is {want:.4f}."
                          + (f"\n{why}" if why else ""), tag)
    if python_float and not isinstance(got, float):
        raise CheckFailed(f"{what} returned the right fraction, but as {_kind(got)}: the exercise asks for "
                          "a Python float, a plain number that prints, formats and compares like one.",
                          "not-a-float")


def _counts(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(C, C) float64: counts[i, j] = samples of true class i whose highest logit is class j."""
    C = logits.shape[1]
    counts = torch.zeros(C, C, dtype=torch.float64)
    for i, j in zip(y.reshape(-1).tolist(), logits.argmax(dim=1).tolist()):
        counts[i, j] += 1
    return counts


def _same_table(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, atol: float = 1e-5) -> bool:
    """Equal on the given rows (0/0 = NaN and x/0 = inf count as equal to themselves)."""
    return bool(torch.isclose(a[rows], b[rows], atol=atol, rtol=1e-5, equal_nan=True).all())


def _why_rates(got: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> tuple:
    """(tag, sentence): which mistake gives exactly this table, judged from the table alone."""
    counts = _counts(logits, y)                                     # (C, C)
    N = y.numel()
    row_totals, col_totals = counts.sum(dim=1), counts.sum(dim=0)   # (C,) each
    with torch.no_grad():
        known = [
            ("broadcast", counts / row_totals[None, :],
             "Each count counts[i, j] (true class i, predicted j) was divided by the total of row j, not by "
             "the total of its own row i: the C row totals were lined up with the columns."),
            ("wrong-axis", counts / col_totals[None, :],
             "Every column sums to 1: each count was divided by the total of its column (the samples "
             "predicted as class j), not by the total of its row (the samples whose true class is i)."),
            ("wrong-axis", (counts / row_totals[:, None]).T,
             "It is the table of rates transposed: row i holds how the samples predicted as class i were "
             "spread over the true classes."),
            ("wrong-count", counts / N,
             f"Each count was divided by the batch size N = {N}: the whole table sums to 1, not each row."),
            ("not-a-rate", counts, "These are the counts themselves, not fractions of each row's samples."),
        ]
    mine = got.detach().double()
    for tag, table, why in known:
        if _same_table(mine, table, rows):
            return tag, why
    sums = mine[rows].sum(dim=1)
    if bool(torch.isclose(sums, torch.ones_like(sums), atol=1e-5).all()):
        return "wrong-value", ("Each of those rows sums to 1, but its values are not the fractions of that "
                               "class's samples predicted as each class.")
    shown = ", ".join(f"{float(v):.3f}" for v in sums[:8])
    return "wrong-value", f"The rows of the classes present in y sum to {shown}; each should sum to 1."


def check_confusion_rates(fn, logits: torch.Tensor, y: torch.Tensor, want: torch.Tensor, *,
                          label: str = "") -> None:
    """fn(logits, y) must return the (C, C) float table whose row i is how the samples of true class i
    were predicted (fractions of that row's samples: every row of a class present in y sums to 1), equal
    to ``want`` on the rows of the classes present in y, and leave its arguments unchanged.

    Rows of classes with no sample in y are 0 / 0 and are not checked. A wrong table is explained from
    the table itself: a row total lined up with the columns, columns that sum to 1, a transposed table.
    """
    what = f"{getattr(fn, '__name__', 'your function')}(logits, y){label}"
    args = {"logits": logits, "y": y}
    mine = {k: v.clone() for k, v in args.items()}
    got = call(fn, mine, what=what)
    check_not_mutated(what, args, mine)
    C = logits.shape[1]
    inputs = f"logits {describe(logits)} and y {describe(y)}"
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (C, C):
        raise CheckFailed(f"{what} returned {_kind(got)} for {inputs}: a ({C}, {C}) table was expected, one "
                          f"row of C = {C} rates for each true class.", "output-shape")
    if not got.is_floating_point():
        raise CheckFailed(f"{what} returned a {describe(got)} table for {inputs}: rates are fractions, a float "
                          "tensor.", "dtype")
    rows = torch.bincount(y.reshape(-1), minlength=C) > 0                      # (C,) classes present in y
    if _same_table(got.detach().double(), want.detach().double(), rows, atol=1e-6):
        return
    present = [i for i in range(C) if bool(rows[i])]
    tag, why = _why_rates(got, logits, y, rows)
    raise CheckFailed(f"{what} returned a table whose rows {present} (the classes present in y) differ from "
                      f"the rates counted sample by sample, for {inputs}.\n{why}", tag)
