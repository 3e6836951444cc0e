"""Checks for topic 02, binary and multi-label: data sets, confident logits, a loss check that names
the mistake that gives exactly the student's value, an element-wise accuracy and a training check for
outputs with one logit per label: (N, 1) binary, (N, 2) two-class, (N, C) multi-label, (N, C, H, W) masks;
a check of a model's 0/1 predictions against its own logits, and of a per-tag recall.

The loss check also reads the label formats of the exercises: labels coded +1/-1, tag ids padded with -1
(a tensor (N, K) beside (N, C) logits), and a training set's labels `Y_train` (M, C) from which the
per-tag pos_weight is counted.

One standard per mistake across the topic: a loss computed from probabilities (sigmoid then BCELoss,
or the log of a sigmoid) is wrong wherever it is a plausible answer, and every loss check of the
topic tries confident logits (|logit| > 20), where a float32 sigmoid rounds to exactly 1.0.
Messages say what the student's code produced and which rule it breaks; the code that fixes it is
the exercise's hint (topics/02-binary-and-multilabel/hints.toml).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from ..diagnosis import describe, shape_str
from .core import (CheckFailed, _gap, _no_grad, _Recorded, call, check_loss, check_not_mutated, rows,
                   separable_data, strict, train_held_out)

_logsigmoid = F.logsigmoid
_bce_with_logits = F.binary_cross_entropy_with_logits
_sigmoid = torch.sigmoid
_softplus = F.softplus

CONFIDENT = 20.0          # |logit| above this is "confident": a float32 sigmoid of 17 already rounds to 1.0
# One message per mistake, wherever in the topic it happens (tags group them in the class report).
SATURATED = ("At these confident logits your value is exactly the binary cross-entropy of float32 "
             "probabilities (a sigmoid, or a softmax column) with log(0) clamped to -100, as BCELoss "
             "computes it: the sigmoid of a logit above about 17 rounds to exactly 1.0, so a confidently "
             "wrong label costs 100 instead of its exact loss, and no gradient flows there. A loss computed "
             "from rounded probabilities is not exact; it must be computed from the logits themselves.")
NOT_FINITE = ("These are confident logits (|logit| up to {top:.0f}): in float32 the sigmoid of a logit "
              "above about 17 rounds to exactly 1.0, and the log of 1 - 1.0 is -inf; the exp of a number "
              "above about 89 is inf (log(1 + exp(...)) written out, or soft_margin_loss). A loss computed "
              "from probabilities or from an exp of the logits is not finite for confident logits; it must "
              "be computed from the logits by a form that stays finite for every logit.")
SATURATES = ("At these confident logits your value does not move when the logits move: the loss saturates "
             "(a clamp, or a probability rounded to exactly 0 or 1), while the exact loss keeps growing "
             "with |logit|.")
TWICE = ("Your value is exactly the loss of {squash} applied to the logits: the scores were turned into "
         "probabilities before a loss that applies {inside} itself, so they are squashed twice. Such a loss "
         "stalls at a floor and trains slowly.")
COUPLED = ("A 2-class softmax couples the two logits: only their difference z1 - z0 decides the "
           "probability, and both take part.")
_AXES = ("N", "C", "H", "W")


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


def signed_data(N: int = 96, n_features: int = 4, seed: int = 0):
    """binary_data with the labels of a margin loss: X (N, F) float, y (N, 1) float, +1. or -1."""
    X, y = binary_data(N, n_features, seed=seed)                 # (N, F), (N,) 0./1.
    return X, torch.where(y > 0.5, 1.0, -1.0).view(-1, 1)        # (N, 1) +1./-1.


def rare_tags(M: int, C: int, seed: int = 0) -> torch.Tensor:
    """(M, C) float multi-hot where tag c is carried by about 0.6 / (c + 1) of the samples (the later tags
    are rare); every tag is carried by at least one sample and missing from at least one (M >= 2)."""
    g = torch.Generator().manual_seed(seed)
    rates = 0.6 / torch.arange(1, C + 1).float()                 # (C,)
    Y = (torch.rand(M, C, generator=g) < rates).float()          # (M, C)
    Y[0], Y[-1] = 1.0, 0.0
    return Y


def tag_ids_of(Y: torch.Tensor, K: int | None = None, seed: int = 0) -> torch.Tensor:
    """(N, C) multi-hot -> (N, K) int64 tag ids of each row in a shuffled order, padded with -1 at the end
    (K: the most tags of a row, unless given)."""
    g = torch.Generator().manual_seed(seed)
    rows = [torch.nonzero(r > 0.5).reshape(-1) for r in Y]
    K = max([len(r) for r in rows] + [1]) if K is None else K
    ids = torch.full((Y.shape[0], K), -1, dtype=torch.int64)     # (N, K)
    for n, r in enumerate(rows):
        ids[n, :len(r)] = r[torch.randperm(len(r), generator=g)]
    return ids


def padded_tags(N: int, C: int, K: int, seed: int = 0):
    """Multi-label data as tag ids: tag_ids (N, K) int64, each row the tags of one sample in no particular
    order, padded with -1 at the end (a row holds 0 to K tags), and the same labels as Y (N, C) float
    multi-hot. The first rows hold K tags, then none, then one, then a random number (for N >= 3)."""
    g = torch.Generator().manual_seed(seed)
    tag_ids = torch.full((N, K), -1, dtype=torch.int64)              # (N, K)
    Y = torch.zeros(N, C)                                            # (N, C)
    for n in range(N):
        count = (K, 0, 1)[n] if n < 3 else int(torch.randint(0, K + 1, (1,), generator=g))
        tags = torch.randperm(C, generator=g)[:min(count, C)]       # distinct tags of sample n
        tag_ids[n, :len(tags)] = tags
        Y[n, tags] = 1.0
    return tag_ids, Y


def confident_logits(*shape: int, seed: int = 0, low: float = 21.0, high: float = 100.0) -> torch.Tensor:
    """Logits of the given shape with |logit| in [low, high] and random signs: where a float32 sigmoid
    rounds to exactly 1.0 (a logit above about 17), so a loss computed from probabilities is not exact.

    The sizes are spread evenly from low to high (shuffled), so one logit always reaches ``high``: an
    answer that overflows only past |logit| of about 89 (``exp`` of a float32, ``soft_margin_loss``)
    cannot slip through on small draws.
    """
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    steps = torch.linspace(low, high, n) if n > 1 else torch.tensor([high])
    size = steps[torch.randperm(n, generator=g)].reshape(shape)      # shape
    sign = 2.0 * torch.randint(0, 2, shape, generator=g) - 1.0       # shape, +-1
    return size * sign


# ------------------------------------------------------------------ what the student's value is
def _through_probabilities(z: torch.Tensor, t: torch.Tensor, w) -> torch.Tensor:
    """The mean BCE of the float32 probabilities sigmoid(z), each log clamped at -100 as BCELoss does."""
    p = _sigmoid(z)
    return -(w * t * p.log().clamp(min=-100) + (1 - t) * (1 - p).log().clamp(min=-100)).mean()


def _class_weight(pos_weight, z: torch.Tensor, dim: int = 1):
    """pos_weight (C,) laid along ``dim`` of z, as (1, C, 1, ...) on dim 1 or (1, ..., C) on the last."""
    pw = torch.as_tensor(pos_weight, dtype=z.dtype).reshape(-1)
    view = [1] * z.dim()
    view[dim] = pw.numel()
    return pw.reshape(view)


def _padded_ids(args: dict):
    """(logits (N, C), tag ids (N, K) with -1 pads) where the second argument is such a tensor, else None."""
    tensors = [v for v in args.values() if isinstance(v, torch.Tensor)]
    if len(tensors) < 2 or not tensors[0].is_floating_point() or tensors[0].dim() != 2:
        return None
    z, ids = tensors[0].detach(), tensors[1].detach()
    if ids.is_floating_point() or ids.dim() != 2 or ids.shape[0] != z.shape[0] or ids.numel() == 0:
        return None
    if int(ids.min()) < -1 or int(ids.max()) >= z.shape[1] or (ids.shape == z.shape and int(ids.min()) >= 0):
        return None                                      # not ids, or a multi-hot of the logits' shape
    return z, ids


def _multi_hot(ids: torch.Tensor, C: int, dtype, pad: int | None = None) -> torch.Tensor:
    """(N, K) tag ids -> (N, C) multi-hot; a -1 switches on tag ``pad`` (None: nothing)."""
    Y = torch.zeros(ids.shape[0], C, dtype=dtype)
    for n, row in enumerate(ids.tolist()):
        for tag in row:
            if tag >= 0 or pad is not None:
                Y[n, tag if tag >= 0 else pad] = 1.0
    return Y


def _counted_pos_weight(Y_train: torch.Tensor, dtype) -> torch.Tensor:
    """(C,): per tag, the training samples without it over those with it."""
    with_tag = Y_train.detach().to(dtype).sum(dim=0)
    return (Y_train.shape[0] - with_tag) / with_tag


def _arranged(args: dict):
    """(logits, targets as float in the logits' shape, pos_weight or None) of a loss's arguments, or None.

    Two logits per sample against (N,) labels are the 2-class softmax: a sigmoid of z1 - z0. Tag ids
    padded with -1 become their multi-hot rows; a training set's labels Y_train give the counted
    pos_weight.
    """
    tensors = [v for v in args.values() if isinstance(v, torch.Tensor)]
    if len(tensors) < 2 or not tensors[0].is_floating_point():
        return None
    padded = _padded_ids(args)
    if padded is not None:
        z, ids = padded
        return z, _multi_hot(ids, z.shape[1], z.dtype), None
    z, t, pw = tensors[0].detach(), tensors[1].detach().to(tensors[0].dtype), args.get("pos_weight")
    if isinstance(args.get("Y_train"), torch.Tensor) and args["Y_train"].dim() == 2:
        pw = _counted_pos_weight(args["Y_train"], z.dtype)
    if z.dim() == 2 and z.shape[1] == 2 and t.dim() == 1 and t.shape[0] == z.shape[0]:
        z = z[:, 1] - z[:, 0]                                        # (N,)
    if t.numel() != z.numel():
        return None
    return z, t.reshape(z.shape), pw


def _raw_shape(args: dict):
    """The shape of a loss's first tensor argument (its logits)."""
    return next(v for v in args.values() if isinstance(v, torch.Tensor)).shape


def _quiet(loss, *args, **kwargs):
    """loss(*args, **kwargs), or None where a hypothesis does not apply to these shapes."""
    try:
        with strict(), _no_grad():
            return loss(*args, **kwargs).detach()
    except Exception:  # noqa: BLE001 - a hypothesis that does not apply
        return None


def _hypotheses(args: dict, expected):
    """(tag, sentence, value) for each mistake of this topic that gives a value of its own on these args."""
    arranged = _arranged(args)
    if arranged is None:
        return
    z, t, pw = arranged
    yield from _label_format_hypotheses(args, z, t)
    if _signed(t):
        t = (t + 1) / 2                                                   # the mistakes below, on 0/1 labels
    w = 1.0 if pw is None or z.dim() < 2 else _class_weight(pw, z)
    if z.shape == _raw_shape(args):                                       # one logit per label: a BCE
        yield ("sigmoid-before-loss", TWICE.format(squash="sigmoid", inside="the sigmoid"),
               _quiet(_bce_with_logits, _sigmoid(z), t, pos_weight=None if pw is None else w))
        if z.dim() >= 2:
            yield ("softmax-before-loss", TWICE.format(squash="softmax(dim=1)", inside="a sigmoid"),
                   _quiet(_bce_with_logits, z.softmax(dim=1), t, pos_weight=None if pw is None else w))
    if float(z.abs().max()) > CONFIDENT:
        yield "probabilities-saturate", SATURATED, _quiet(_through_probabilities, z, t, w)
    if pw is None and z.shape == _raw_shape(args) and (z.dim() == 1 or z.shape[-1] == 1):
        yield ("doubled-logit",
               "Your value is exactly the binary loss of twice the logits: a softmax over the two scores -z "
               "and z is a sigmoid of their difference, 2z, so every logit counted double.",
               _quiet(_bce_with_logits, 2 * z, t))
    raw = [v for v in args.values() if isinstance(v, torch.Tensor)][:2]
    two = raw[0].detach()
    if two.dim() == 2 and two.shape[1] == 2 and raw[1].dim() == 1 and raw[1].shape[0] == two.shape[0]:
        y = raw[1].detach().to(two.dtype)                                # (N,)
        yield ("softmax-before-loss", TWICE.format(squash="softmax(dim=1)", inside="log_softmax"),
               _quiet(F.cross_entropy, two.softmax(dim=1), y.long()))
        yield ("two-sigmoids",
               "Your value is exactly the loss of two independent sigmoids, one per logit, with labels "
               f"(1 - y, y). {COUPLED}", _quiet(_bce_with_logits, two, torch.stack([1 - y, y], dim=1)))
        yield ("two-sigmoids",
               "Your value is exactly the loss of two independent sigmoids, one per logit, both with the "
               f"sample's label y. {COUPLED}", _quiet(_bce_with_logits, two, torch.stack([y, y], dim=1)))
        for k in (0, 1):
            yield ("one-logit-of-two",
                   f"Your value is exactly the binary loss of logit {k} alone: logit {1 - k} plays no part. "
                   + COUPLED, _quiet(_bce_with_logits, two[:, k], y))
    try:
        table = torch.broadcast_shapes(raw[0].shape, raw[1].shape)
    except RuntimeError:
        table = None
    if table is not None and math.prod(table) > raw[0].numel():
        zz, tt = raw[0].detach().expand(table), raw[1].detach().to(raw[0].dtype).expand(table)
        yield ("broadcast",
               f"Your value is exactly the mean over a {shape_str(table)} table: the logits "
               f"{describe(raw[0])} and the labels {describe(raw[1])} broadcast against each other, so "
               "every logit was scored against every label. Logit n must meet label n only, in tensors of "
               "one shape.",
               _quiet(_bce_with_logits, zz, tt))
    if pw is None and z.dim() == 2 and z.shape[1] > 2 and z.shape == _raw_shape(args):   # multi-label
        C, first = z.shape[1], t.argmax(dim=1)                           # (N,) the first tag of each row
        compete = (f"the {C} tags compete for one unit of probability. Each of the N·C entries is a yes/no "
                   "of its own.")
        yield ("one-tag-per-sample",
               f"Your value is exactly the cross-entropy of one softmax over the {C} tags against a "
               "single tag per sample (the first tag of each row): the other tags of a row are dropped, "
               f"and {compete}", _quiet(F.cross_entropy, z, first))
        yield ("softmax-over-tags",
               f"Your value is exactly the cross-entropy of one softmax over the {C} tags, with the "
               f"multi-hot row as its target: {compete}", _quiet(F.cross_entropy, z, t))
        yield ("one-tag-per-sample",
               "Your value is exactly the binary loss against a single tag per sample (the first tag of "
               "each row): the other tags of a row count as absent. Each of the N·C entries is a yes/no of "
               "its own.", _quiet(_bce_with_logits, z, F.one_hot(first, C).to(z.dtype)))
    if pw is not None and (z.dim() >= 3 or "Y_train" in args):
        C = torch.as_tensor(pw).numel()
        for d in range(2, z.dim()):
            if z.shape[d] == C:
                name = _AXES[d] if d < len(_AXES) else f"dim {d}"
                yield ("pos-weight-axis",
                       f"Your value is exactly the loss with the class weights laid along dim {d} ({name}) "
                       f"of the logits {describe(args['logits'])}: here {name} = C = {C}, so pos_weight "
                       f"broadcast against that axis and the code ran, but it weighted the pixels by their "
                       f"{name} index, not by their class (dim 1).",
                       _quiet(_bce_with_logits, z, t, pos_weight=_class_weight(pw, z, d)))
        yield ("pos-weight-mean",
               "Your value is exactly the loss with one weight, the mean of pos_weight, for every class: "
               "the classes are no longer weighted apart.",
               _quiet(_bce_with_logits, z, t, pos_weight=torch.as_tensor(pw, dtype=z.dtype).mean()))
        yield ("pos-weight-unused", "Your value is exactly the unweighted loss: pos_weight has no effect on "
               "it.", _quiet(_bce_with_logits, z, t))
        yield ("weight-not-pos-weight",
               "Your value is exactly the loss with every entry of class c weighted by its class weight, the "
               "negative entries (label 0) too: pos_weight weights only the positive entries (label 1).",
               _quiet(_bce_with_logits, z, t, weight=_class_weight(pw, z)))
    if expected is not None and z.dim() >= 2 and z.shape[0] and z.numel() // z.shape[0] > 1:
        k = z.numel() // z.shape[0]
        yield ("reduction",
               f"Your value is exactly {k} times the mean over all {z.numel()} entries: the {k} losses of "
               "each sample were summed, then averaged over the samples. The loss is the mean over every "
               "entry.",
               torch.as_tensor(k * expected).detach())


def _signed(t: torch.Tensor) -> bool:
    """Labels coded -1/+1 (with at least one -1)."""
    values = set(t.unique().tolist())
    return values <= {-1.0, 1.0} and -1.0 in values


def _label_format_hypotheses(args: dict, z: torch.Tensor, t: torch.Tensor):
    """(tag, sentence, value) for the mistakes of reading labels in their stored format: +1/-1 labels, tag
    ids padded with -1, a pos_weight counted from Y_train along the wrong axis or from the wrong tensor."""
    bce = _bce_with_logits
    if _signed(t):
        yield ("signed-labels",
               "Your value is exactly the binary cross-entropy with the labels read as they are, +1 and -1. "
               "BCE reads its target as the probability of the positive class, a number in [0, 1]: a label "
               "of -1 is a probability of -1, and such a loss has no lower bound (it goes below 0 as "
               "training pushes the logits).", _quiet(bce, z, t))
        yield ("signed-labels",
               "Your value is exactly the loss with every label read as 1 (positive): the -1 labels became 1 "
               "as well.", _quiet(bce, z, torch.ones_like(t)))
        yield ("signed-labels",
               "Your value is exactly the loss with +1 read as 0 and -1 as 1: the two classes are swapped.",
               _quiet(bce, z, (1 - t) / 2))
        yield ("signed-labels",
               "Your value is exactly the loss with the labels 0 and 2: a label of 2 is a probability of 2.",
               _quiet(bce, z, t + 1))
        low, high = (float(v) for v in _sigmoid(torch.tensor([-1.0, 1.0])))
        yield ("signed-labels",
               f"Your value is exactly the loss with the soft labels {low:.3f} and {high:.3f} (a sigmoid "
               "of -1 and +1), not 0 and 1.", _quiet(bce, z, _sigmoid(t)))
    padded = _padded_ids(args)
    if padded is not None:
        _, ids = padded
        C, pads = z.shape[1], int((ids < 0).sum())
        where = f"in every row that holds a -1 ({pads} padding entries in these tag ids)"
        yield ("pad-as-tag",
               f"Your value is exactly the loss with tag {C - 1}, the last one, marked present {where}: an "
               "index of -1 counts from the end, so each padding entry switched on the last tag.",
               _quiet(bce, z, _multi_hot(ids, C, z.dtype, pad=C - 1)))
        for tag in (0, 1):
            yield ("pad-as-tag",
                   f"Your value is exactly the loss with tag {tag} marked present {where}: the padding "
                   "became a real tag.", _quiet(bce, z, _multi_hot(ids, C, z.dtype, pad=tag)))
        last_dropped = _multi_hot(ids, C, z.dtype)
        last_dropped[:, -1] = 0
        yield ("last-tag-dropped",
               f"Your value is exactly the loss with tag {C - 1}, the last one, absent from every row, also "
               "where a sample carries it.", _quiet(bce, z, last_dropped))
        first = ids[:, 0]                                                 # (N,) the first id of each row
        if int(first.min()) >= 0:
            yield ("one-tag-per-sample",
                   f"Your value is exactly the cross-entropy of one softmax over the {C} tags against the "
                   "first tag id of each row: the other tags of a row are dropped, and the tags compete for "
                   "one unit of probability. Each of the N·C entries is a yes/no of its own.",
                   _quiet(F.cross_entropy, z, first))
        yield ("one-tag-per-sample",
               "Your value is exactly the binary loss against the first tag id of each row only: the other "
               "tags of a row count as absent.",
               _quiet(bce, z, _multi_hot(ids[:, :1], C, z.dtype)))
    Y_train = args.get("Y_train")
    if isinstance(Y_train, torch.Tensor) and Y_train.dim() == 2 and z.dim() == 2:
        M, C = Y_train.shape
        Yt = Y_train.detach().to(z.dtype)
        per_sample = (M - Yt.sum(dim=1)) / Yt.sum(dim=1)                  # (M,) counted along dim 1
        if M >= C:
            yield ("pos-weight-axis",
                   f"Your value is exactly the loss with the weights counted along dim 1 of Y_train "
                   f"{describe(Y_train)}, one per training sample ({M} of them), "
                   + ("" if M == C else f"of which the first {C} were kept, ")
                   + "not one per tag: tag c was weighted by a count of training sample c.",
                   _quiet(bce, z, t, pos_weight=per_sample[:C]))
        batch = t.sum(dim=0)
        yield ("pos-weight-from-batch",
               f"Your value is exactly the loss with each tag's weight counted in the batch of {t.shape[0]} "
               f"samples, not in the {M} training samples of Y_train.",
               _quiet(bce, z, t, pos_weight=(t.shape[0] - batch) / batch))
        with_tag = Yt.sum(dim=0)
        yield ("pos-weight-inverted",
               "Your value is exactly the loss with each tag weighted by (samples with it) / (samples "
               "without it): the rare tags get the smallest weight, the inverse of what pos_weight is for.",
               _quiet(bce, z, t, pos_weight=with_tag / (M - with_tag)))
        yield ("pos-weight-count",
               f"Your value is exactly the loss with the samples without tag c counted as {C} (the number of "
               "tags) minus the samples with it: the negatives were counted along the tag axis, not over the "
               f"{M} training samples.", _quiet(bce, z, t, pos_weight=(C - with_tag) / with_tag))


def _student_value(fn, args: dict):
    try:
        with strict(), _no_grad():
            out = fn(*{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in args.items()}.values())
    except Exception:  # noqa: BLE001 - the check already said how the call behaves
        return None
    return out.detach() if isinstance(out, torch.Tensor) and out.dim() == 0 else None


_BROADCAST = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at "
                        r"non-singleton dimension (\d+)")


def _explained(exc: CheckFailed, fn, args: dict, expected) -> CheckFailed:
    """The check's failure, with the sentence that says which mistake of this topic produced it."""
    text, z = str(exc), args.get("logits")
    confident = isinstance(z, torch.Tensor) and z.is_floating_point() and float(z.abs().max()) > CONFIDENT
    if exc.tag == "non-finite" and confident:
        top = float(z.abs().max())
        return CheckFailed(f"{text}\n{NOT_FINITE.format(top=top)}", "probabilities-saturate")
    if exc.tag == "labels-out-of-range" and isinstance(z, torch.Tensor) and z.dim() == 2 and z.shape[1] == 1:
        return CheckFailed(f"{text}\nThe logits {describe(z)} have one column, so a loss over the class dim "
                           "(dim 1) sees C = 1 class: the only class id is 0, and a softmax over one column "
                           "is always 1, whatever the logit.", "one-column-softmax")
    Y_train = args.get("Y_train")
    if exc.tag == "non-finite" and isinstance(Y_train, torch.Tensor) and Y_train.dim() == 2:
        Y_train = Y_train.detach()
        per_sample = int((Y_train.sum(dim=1) == 0).sum())
        batch = [v for k, v in args.items() if isinstance(v, torch.Tensor) and k not in ("logits", "Y_train")]
        in_batch = int((batch[0].detach().sum(dim=0) == 0).sum()) if batch and batch[0].dim() == 2 else 0
        return CheckFailed(f"{text}\nA weight of (samples without the tag) / (samples with it) is infinite "
                           "where the count it divides by is 0, and an infinite weight times a label of 0 is "
                           f"nan. Counted per tag over Y_train {describe(Y_train)}, no count is 0; "
                           f"counted along dim 1 (one count per training sample), {per_sample} are 0; "
                           f"counted per tag in the batch, {in_batch} are 0.", "pos-weight-division")
    if exc.tag == "view-size":
        sizes = ", ".join(f"{k} {describe(v)}" for k, v in args.items() if isinstance(v, torch.Tensor))
        return CheckFailed(f"{text}\nThe inputs here are {sizes}: a size written into the code as a "
                           "number fits only the shapes it was written for, and N, C, H and W change from "
                           "call to call.", "hard-coded-size")
    match = _BROADCAST.search(text)
    if exc.tag == "shape-mismatch" and match and "pos_weight" in args and isinstance(z, torch.Tensor):
        a, b, d = (int(g) for g in match.groups())
        if d < z.dim():
            other = a if b == z.shape[d] else b
            name = _AXES[d] if d < len(_AXES) else f"dim {d}"
            return CheckFailed(
                f"{text}\nBroadcasting lines shapes up from the right: dim {d} of the logits {describe(z)} "
                f"({name} = {z.shape[d]}) met an axis of pos_weight of size {other}. There is one weight "
                "per class, and the classes are dim 1 of the logits.", "pos-weight-axis")
    # a wrong value; "constant" too: a loss through saturated probabilities does not move when
    # confident logits move, and that is the mistake to name
    if exc.tag not in ("wrong-value", "constant", "sigmoid-before-loss", "softmax-before-loss",
                       "negative-loss"):
        return exc
    out = _student_value(fn, args)
    if out is None:
        return exc
    first = text.split("\n", 1)[0]              # what was returned and expected, without core's guess
    if exc.tag == "wrong-value" and confident:      # a loss that is flat where the logits are confident
        again = _student_value(fn, {**args, "logits": z * 1.25})
        if again is not None and torch.equal(again, out):
            exc = CheckFailed(f"{first}\n{SATURATES}", "saturates")
    if exc.tag == "constant" and confident:
        exc = CheckFailed(f"{first}\n{SATURATES}", "saturates")
    if isinstance(z, torch.Tensor) and out.dtype != z.dtype and out.is_floating_point():
        mine, theirs = str(out.dtype).removeprefix("torch."), str(z.dtype).removeprefix("torch.")
        return CheckFailed(f"{first}\nYour loss is {mine} while the logits are {theirs}: it was computed in "
                           "another precision than the logits'.", "loss-dtype")
    hypotheses = _hypotheses(args, expected)
    while True:
        try:
            tag, sentence, value = next(hypotheses)
        except StopIteration:
            return exc
        except Exception:  # noqa: BLE001 - arguments no hypothesis fits: the check's own message stands
            return exc
        if value is None or value.shape != ():
            continue
        if _gap(out.double(), value.double()) <= 2e-5 * max(1.0, abs(float(value))):
            return CheckFailed(f"{first}\n{sentence}", tag)


class _FirstValue:
    """The reference, keeping the value it returned first (a recorded answer is replayed only once)."""

    def __init__(self, reference):
        self.reference, self.value = reference, None

    def __call__(self, *args):
        if self.value is not None and isinstance(self.reference, _Recorded):
            raise RuntimeError("a recorded answer is not asked twice")
        out = self.reference(*args)
        if self.value is None:
            self.value = out.detach() if isinstance(out, torch.Tensor) else out
        return out


def check_bce_loss(fn, reference, args: dict, *, loss: str = "BCEWithLogitsLoss",
                   grad_of: str | None = "logits", atol: float = 1e-5, label: str = "") -> None:
    """checks.check_loss for this topic's losses; a failure also says which mistake gives exactly the
    student's value (a loss through saturated probabilities, a broadcast table, pos_weight on another
    axis, a per-sample sum), or what a hard-coded size or a misplaced pos_weight ran into."""
    ref = _FirstValue(reference)
    try:
        check_loss(fn, ref, args, loss=loss, grad_of=grad_of, atol=atol, label=label)
    except CheckFailed as exc:
        raise _explained(exc, fn, args, ref.value) from None


def check_bce_loss_fn(fn, reference, make_args, *, sizes=(1, 2, 7), loss: str = "BCEWithLogitsLoss",
                      grad_of: str | None = "logits", atol: float = 1e-5) -> None:
    """check_bce_loss for several batch sizes; make_args(N) returns the dict of named inputs."""
    for N in sizes:
        check_bce_loss(fn, reference, make_args(N), loss=loss, grad_of=grad_of, atol=atol,
                       label=f" with N = {N}")


# ------------------------------------------------------------------------------------ models
def check_one_logit_per_sample(model, n_features: int, sizes=(1, 2, 7), *, what: str = "model(X)",
                               seed: int = 0) -> None:
    """model maps (N, n_features) to (N, 1), one logit per sample, for every N (N = 1 included)."""
    g = torch.Generator().manual_seed(seed)
    for N in sizes:
        X = torch.randn(N, n_features, generator=g)                  # (N, F)
        with _no_grad():
            out = call(model, {"X": X}, what=what)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (N, 1):
            raise CheckFailed(f"{what} maps X {describe(X)} to {describe(out)}: one logit per sample is "
                              f"{shape_str((N, 1))}.", "output-shape")


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


def _what_the_outputs_are(out: torch.Tensor, labels: torch.Tensor) -> str:
    """What the model's outputs were, and the least loss outputs in that range can reach on these labels."""
    o = out.detach().double().reshape(-1)
    t = labels.detach().double().reshape(-1)
    lo, hi = float(o.min()), float(o.max())
    if hi - lo <= 1e-6:
        seen = f"the model gives the same output, {lo:.4f}, for every sample"
    elif lo >= 0.0 and hi <= 1.0:
        seen = f"every output lies in [{lo:.4f}, {hi:.4f}], inside [0, 1] like a probability"
    elif lo >= -1.0 and hi <= 1.0:
        seen = f"every output lies in [{lo:.4f}, {hi:.4f}], inside [-1, 1]"
    elif lo >= 0.0:
        seen = f"no output is negative (they lie in [{lo:.4f}, {hi:.4f}])"
    elif hi <= 0.0:
        seen = f"no output is positive (they lie in [{lo:.4f}, {hi:.4f}])"
    else:
        return ""
    if o.numel() != t.numel():
        return f" On held-out samples {seen}."
    floor = float((t * _softplus(torch.tensor(-hi, dtype=torch.float64))
                   + (1 - t) * _softplus(torch.tensor(lo, dtype=torch.float64))).mean())
    return (f" On held-out samples {seen}; even perfect predictions confined to that range cost at least "
            f"{floor:.4f} there. BCEWithLogitsLoss applies the sigmoid itself and needs the raw logit, free "
            "to take any real value.")


def check_trains_binary(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, steps: int = 150,
                        lr: float = 0.05, min_accuracy: float = 0.95, max_loss: float | None = None,
                        seed: int = 0, labels: torch.Tensor | None = None) -> dict:
    """check_trains for one logit per label: train with Adam on two thirds of the samples, then require
    the element-wise accuracy on the held-out third.

    ``labels`` are the 0/1 labels the accuracy is measured against, one per output element
    (default: y). A prediction is 1 where the logit is > 0. A loss above max_loss is explained by what
    the model's outputs were (bounded like probabilities, never negative, constant).
    """
    N = X.shape[0]
    held_out, value = train_held_out(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    with _no_grad():
        out = call(model, {"X": X[held_out]}, what="model(X)")
    truth = rows(y if labels is None else labels, N, held_out)
    acc = _binary_accuracy(out, truth)
    if max_loss is not None and not value <= max_loss:   # first: a floor explains a low accuracy too
        o = out.detach().reshape(-1)
        # outputs in [0, 1] are probabilities to the caller, who thresholds them at 0.5; an accuracy
        # counted at logit > 0 would call every one of them 1 and disagree with what the caller printed
        as_probs = o.numel() > 0 and float(o.min()) >= 0.0 and float(o.max()) <= 1.0
        acc_note = "" if as_probs else f" (accuracy {acc:.3f}, counting an output > 0 as 1)"
        raise CheckFailed(f"After {steps} training steps the loss on held-out samples is still "
                          f"{value:.4f}{acc_note}; it should fall below {max_loss}: the loss is "
                          "stuck at a floor." + _what_the_outputs_are(out, truth), "loss-floor")
    if not acc >= min_accuracy:
        raise CheckFailed(f"After {steps} training steps {acc:.3f} of the labels are right (logit > 0 "
                          f"means 1); it should reach {min_accuracy:.2f} on this easy data "
                          f"(loss {value:.4f}).",
                          "does-not-learn")
    return {"accuracy": acc, "loss": value}


# ------------------------------------------------------------------ predictions and metrics
def _predict_against_logits(model, X: torch.Tensor, what: str, where: str = "") -> torch.Tensor:
    """Check model.predict(X) against model(X) on these samples; return the logits."""
    N = X.shape[0]
    with _no_grad():
        pred = call(model.predict, {"X": X}, what=what)
        logits = call(model, {"X": X}, what=what.replace(".predict", ""))
    if not isinstance(pred, torch.Tensor) or tuple(pred.shape) != (N, 1):
        raise CheckFailed(f"{what} with X {describe(X)} returned {describe(pred)}: one prediction per sample "
                          f"is {shape_str((N, 1))}, like the model's output.", "output-shape")
    if not pred.is_floating_point():
        raise CheckFailed(f"{what} returned {describe(pred)}: the predictions are 0./1. floats.", "dtype")
    values = set(pred.detach().reshape(-1).tolist())
    if not values <= {0.0, 1.0}:
        shown = ", ".join(f"{v:.4g}" for v in sorted(values)[:4])
        raise CheckFailed(f"{what} returned values such as {shown}: a prediction is 0. or 1.", "not-binary")
    if not isinstance(logits, torch.Tensor) or logits.numel() != N:
        raise CheckFailed(f"{what.replace('.predict', '')} returned {describe(logits)} for X {describe(X)}: "
                          f"one score per sample is {shape_str((N, 1))}.", "output-shape")
    z, p = logits.detach().reshape(-1), pred.detach().reshape(-1)
    missed = [(a, b) for a, b in zip(z.tolist(), p.tolist()) if (a > 0) != (b > 0.5)]
    if missed:
        logit, said = missed[0]
        prob = 1 / (1 + math.exp(-logit))
        raise CheckFailed(f"{what} disagrees with the model's own scores for {len(missed)} of {N} "
                          f"samples{where}: e.g. a sample with logit {logit:.4f} (probability {prob:.4f}) is "
                          f"predicted {said:.0f}. "
                          "A sample is predicted 1. exactly when its probability is above 0.5.", "threshold")
    return z


def check_predict(model, X: torch.Tensor, *, what: str = "model.predict(X)", steps: int = 401) -> None:
    """model.predict(X) is (N, 1) float 0./1., and 1. exactly where the model's own logit model(X) is > 0
    (its probability above 0.5). The model's output must be the raw logit (train it before this check).

    Where the samples' logits have both signs, the check also walks the straight line from the sample
    with the lowest logit to the one with the highest: the logit crosses 0 on it, so the samples whose
    probability is just above 0.5 are tried too."""
    z = _predict_against_logits(model, X, what)
    if z.numel() >= 2 and float(z.min()) < 0 < float(z.max()):
        a, b = X[int(z.argmin())], X[int(z.argmax())]
        t = torch.linspace(0, 1, steps, dtype=X.dtype)[:, None]             # (steps, 1)
        _predict_against_logits(model, a + t * (b - a), what,               # (steps, F) samples on the line
                                " on the line from the lowest-scoring sample to the highest-scoring one")


_RECALL_MISTAKES = (
    ("threshold",
     "Your values are exactly the recall with a tag counted as found wherever its logit is above 0.5, i.e. "
     "where its probability is above sigmoid(0.5) = {p:.3f}: a probability's threshold applied to a logit.",
     lambda z, Y: ((z > 0.5).to(Y.dtype) * Y).sum(0) / Y.sum(0)),
    ("recall-denominator",
     "Your values are exactly the tags found divided by N = {N}, the number of samples, not by the number of "
     "samples that carry each tag.", lambda z, Y: ((z > 0).to(Y.dtype) * Y).sum(0) / Y.shape[0]),
    ("accuracy-not-recall",
     "Your values are exactly, per tag, the share of all samples whose prediction is right, with and without "
     "the tag: that is the per-tag accuracy; recall looks only at the samples that carry the tag.",
     lambda z, Y: ((z > 0).to(Y.dtype) == Y).to(Y.dtype).mean(0)),
    ("precision-not-recall",
     "Your values are exactly, per tag, the share of the predicted tags that are right (precision): recall "
     "divides by the samples that carry the tag, not by the samples the tag is predicted for.",
     lambda z, Y: ((z > 0).to(Y.dtype) * Y).sum(0) / (z > 0).to(Y.dtype).sum(0)),
)


def check_tag_recall(fn, logits: torch.Tensor, Y: torch.Tensor, expected, *, label: str = "") -> None:
    """fn(logits, Y) must be the (C,) float per-tag recall; tags that no sample carries are not compared.

    A failure says what the values are (every tag found, a threshold on the wrong scale, another
    denominator, accuracy or precision), never the code that fixes it."""
    N, C = Y.shape
    what = f"{getattr(fn, '__name__', 'your function')}(logits, Y){label}"
    args = {"logits": logits, "Y": Y}
    mine = {k: v.clone() for k, v in args.items()}
    with _no_grad():
        out = call(fn, mine, what=what)
    check_not_mutated(what, args, mine)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (C,):
        raise CheckFailed(f"{what} with logits {describe(logits)} and Y {describe(Y)} returned "
                          f"{describe(out)}: one recall per tag is {shape_str((C,))}.", "output-shape")
    if not out.is_floating_point():
        raise CheckFailed(f"{what} returned {describe(out)}: a recall is a float.", "dtype")
    want = torch.as_tensor(expected, dtype=out.dtype)
    carried = Y.detach().sum(dim=0) > 0                                  # (C,) tags with a sample
    got, ref = out.detach()[carried].double(), want.detach()[carried].double()
    if _gap(got, ref) <= 1e-6:
        return
    shown = ", ".join(f"{v:.3f}" for v in got.tolist())
    first = (f"{what} returned, for the {int(carried.sum())} tags that some sample carries, [{shown}]; the "
             f"recall counted sample by sample is [{', '.join(f'{v:.3f}' for v in ref.tolist())}].")
    z, Yd = logits.detach(), Y.detach()
    if bool((got == 1).all()) and not bool((ref == 1).all()):
        missed = int(((z <= 0) & (Yd > 0.5)).sum())
        raise CheckFailed(f"{first}\nYour recall is 1.0 for every tag, although {missed} of the (sample, "
                          "tag) pairs that carry a tag have a logit of 0 or below (probability at most "
                          "0.5): your code counts every tag as found, as if it predicted every tag for every "
                          "sample.",
                          "predicts-everything")
    for tag, sentence, value in _RECALL_MISTAKES:
        try:
            with _no_grad():
                other = value(z, Yd).double()[carried]
        except Exception:  # noqa: BLE001 - a hypothesis that does not apply
            continue
        if _gap(got, other) <= 1e-6:
            raise CheckFailed(f"{first}\n" + sentence.format(p=float(_sigmoid(torch.tensor(0.5))), N=N), tag)
    raise CheckFailed(first, "wrong-value")
