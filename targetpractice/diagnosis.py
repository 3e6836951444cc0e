"""Diagnosis: turn a loss, its tensors or its exception into what a student can act on.

Every diagnosis has a tag (a misconception id such as ``target-extra-dim``) so the grader can count
mistakes across a class, a ``problem`` that names the shapes and dtypes seen and which rule of the
loss's contract they break, and a ``fix``: the idiom that repairs it. Lessons print both (they
teach); exercise checks print the problem and keep the fix for the hint the student asks for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .contracts import contract_for, expected_target_shapes


@dataclass(frozen=True)
class Diagnosis:
    tag: str
    problem: str       # what was seen and which rule is broken, in the student's terms; no code to copy
    fix: str = ""      # the repair in code: shown by lessons, and by exercises only as a hint

    @property
    def message(self) -> str:
        return self.problem + (f"\nLikely fix: {self.fix}" if self.fix else "")

    def __str__(self) -> str:
        return self.message


def shape_str(shape) -> str:
    """(32, 1) for a 2-d shape, (32,) for a 1-d one, () for a scalar."""
    shape = tuple(shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(x) -> str:
    """'(32, 1) int64' for a tensor; the type name for anything else."""
    if isinstance(x, torch.Tensor):
        return f"{shape_str(x.shape)} {str(x.dtype).replace('torch.', '')}"
    if x is None:
        return "None (did the function forget to return?)"
    return f"{a_type(x)}, not a tensor"


def a_type(x) -> str:
    """'a float', 'an int', 'an ndarray': the type of x with its article."""
    name = type(x).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' or name.startswith('nd') else 'a'} {name}"


def _dt(t) -> str:
    return str(t.dtype).replace("torch.", "")


def _singleton_to_drop(target, wanted) -> int | None:
    """The dim of size 1 in target whose removal gives the wanted shape, if any."""
    for d in range(target.dim()):
        if target.shape[d] == 1 and tuple(target.shape[:d]) + tuple(target.shape[d + 1:]) == tuple(wanted):
            return d
    return None


def _looks_like_probs(x: torch.Tensor, dim: int = 1) -> bool:
    if not x.is_floating_point() or x.dim() <= dim or x.numel() == 0:
        return False
    x = x.detach()
    return bool(((x >= 0) & (x <= 1)).all() and torch.allclose(x.sum(dim), torch.ones(()), atol=1e-4))


def diagnose(loss, input, target, ignore_index: int = -100) -> Diagnosis:
    """Diagnose ``loss(input, target)``: the most likely shape or dtype mistake, or tag 'ok'."""
    c = contract_for(loss)
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        return Diagnosis("not-a-tensor",
                         f"{c.name} needs tensors; got input {describe(input)} and target {describe(target)}.")
    seen = f"input is {describe(input)}, target is {describe(target)}"
    if c.family == "class-ids":
        return _diagnose_class_ids(c, input, target, seen, ignore_index)
    if c.family == "same-shape":
        return _diagnose_same_shape(c, input, target, seen)
    return Diagnosis("unknown", f"{seen}. {c.describe()}")


def _diagnose_class_ids(c, x, y, seen, ignore_index) -> Diagnosis:
    if x.dim() == 0:
        return Diagnosis("scalar-input", f"{seen}; {c.name} needs scores of shape (N, C).")
    wanted = expected_target_shapes(c, x.shape)["class ids"]
    C = x.shape[1] if x.dim() >= 2 else x.shape[0]
    want = f"{c.name} wants {shape_str(wanted)} int64 class ids"
    if c.name == "CrossEntropyLoss":
        want += f" or {shape_str(x.shape)} float class probabilities"
    if x.dim() >= 2 and x.shape[0] == 1 and y.dim() == len(wanted) - 1:
        return Diagnosis(
            "squeeze-ate-batch",
            f"{seen}; {want}. With N = 1 the target lost its batch dim: a squeeze that removes every dim "
            "of size 1 also removes N when N is 1.",
            "squeeze only the dim you mean, y.squeeze(1), or use y.view(-1).")
    if x.dim() >= 2 and y.dim() >= 1 and y.shape[0] != x.shape[0]:
        return Diagnosis(
            "batch-mismatch",
            f"{seen}: the batch sizes differ ({x.shape[0]} vs {y.shape[0]}). Dim 0 of both must be N, "
            "one target per sample.",
            "look for a view/reshape/flatten earlier that mixed the batch into other dims (use x.flatten(1) "
            "and x.size(0), never a hard-coded batch size), or for logits and targets from different "
            "batches. Trimming the targets to match only hides it.")
    if x.dim() == 3 and tuple(y.shape) == (x.shape[0], x.shape[1]) and x.shape[1] != x.shape[2]:
        return Diagnosis(
            "class-dim-last",
            f"{seen}: this looks like (N, T, C) sequence scores, but {c.name} reads the classes from dim 1, "
            f"so it takes the {x.shape[1]} time steps for classes.",
            "logits.permute(0, 2, 1) gives (N, C, T); or flatten both: logits.reshape(-1, C) with "
            "y.reshape(-1). Never view/reshape straight to (N, C, T): that scrambles the data.")
    if tuple(y.shape) == tuple(wanted):
        if y.is_floating_point():
            return Diagnosis("float-class-ids", f"{seen}; {want}. The shape is right but the ids are {_dt(y)}.",
                             "y.long().")
        if y.dtype not in (torch.int64, torch.uint8):
            return Diagnosis("int-class-ids", f"{seen}; {want}. The ids are {_dt(y)}.", "y.long().")
        ids = y[y != ignore_index]
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if hi >= C:
                fix = ("the labels look 1-based (1..C): subtract 1." if lo >= 1 else
                       "either C is too small or a special value (padding, 'void' 255) needs ignore_index.")
                return Diagnosis("labels-out-of-range",
                                 f"{seen}; labels run from {lo} to {hi}, but with C = {C} classes they must lie "
                                 f"in 0..{C - 1}.", fix + " Clamping or taking them modulo C silently relabels them.")
            if lo < 0:
                return Diagnosis("negative-labels",
                                 f"{seen}; label {lo} is negative, and class ids must lie in 0..{C - 1}.",
                                 f"if it marks padding, pass ignore_index={lo} (or pad with -100, the default).")
        if c.name == "CrossEntropyLoss" and _looks_like_probs(x, 1 if x.dim() >= 2 else 0):
            return Diagnosis("softmax-before-loss",
                             f"{seen}; every row of the input sums to 1: these are probabilities, but "
                             "CrossEntropyLoss applies log_softmax itself and wants raw scores. The loss "
                             "stalls at a floor of log(1 + (C-1)/e).",
                             "pass raw logits (remove the softmax).")
        if c.name == "NLLLoss" and x.is_floating_point() and bool((x.detach() > 0).any()):
            return Diagnosis("nll-without-log-softmax",
                             f"{seen}; NLLLoss wants log-probabilities (all <= 0), but some inputs are positive.",
                             "apply log_softmax(dim=1) first, or use CrossEntropyLoss on the logits.")
        return Diagnosis("ok", f"{seen}; this matches: {want}.")
    if tuple(y.shape) == tuple(x.shape):
        if not y.is_floating_point():
            return Diagnosis("one-hot-long",
                             f"{seen}: a target of the input's shape, so a one-hot or probability target; "
                             f"{want}. An integer target of that shape is neither.",
                             "y.argmax(1) for class ids" + (" or y.float() as probabilities." if
                                                            c.name == "CrossEntropyLoss" else "."))
        if c.name == "NLLLoss":
            return Diagnosis("probability-target-nll", f"{seen}. NLLLoss has no probability form.",
                             "y.argmax(1), or CrossEntropyLoss.")
        return Diagnosis("ok", f"{seen}; float targets of the input's shape are read as class probabilities.")
    drop = _singleton_to_drop(y, wanted)
    if drop is not None:
        return Diagnosis("target-extra-dim",
                         f"{seen}; {want}. The target has an extra dim of size 1 (dim {drop}).",
                         f"y.squeeze({drop}) (never a bare y.squeeze(), which also drops N when N = 1).")
    if y.dim() == x.dim() + 1 and y.shape[-1] in (3, C):
        return Diagnosis("target-extra-dim",
                         f"{seen}; {want}. The target has a trailing dim of size {y.shape[-1]} "
                         "(one-hot or colour channels?).", "map it to one class id per position.")
    return Diagnosis("shape-mismatch", f"{seen}; {want}.")


def _diagnose_same_shape(c, x, y, seen) -> Diagnosis:
    want = f"{c.name} wants a target of exactly the input's shape {shape_str(x.shape)}"
    if tuple(x.shape) != tuple(y.shape):
        if x.numel() == y.numel():
            fix = "y.view_as(output) (or output.squeeze(1) / y.unsqueeze(1); never a bare squeeze())."
        elif c.name == "BCEWithLogitsLoss" and x.dim() == 2 and y.dim() == 1:
            fix = ("these look like (N, C) class scores with (N,) class ids: use CrossEntropyLoss for one "
                   "class per sample, or F.one_hot(y, C).float() if samples can have several labels.")
        else:
            fix = "check which dim is N on both sides."
        note = ""
        if not c.name.startswith("BCE"):  # BCE raises; the regression losses warn and broadcast
            try:
                b = torch.broadcast_shapes(x.shape, y.shape)
                if tuple(b) != tuple(x.shape):
                    note = (f" These shapes broadcast to {shape_str(b)}, so the loss compares every output "
                            "with every target: it runs, warns, and is wrong.")
            except RuntimeError:
                pass
        return Diagnosis("shape-mismatch", f"{seen}; {want}.{note}", fix)
    if c.name in ("BCELoss", "BCEWithLogitsLoss") and not y.is_floating_point():
        return Diagnosis("int-target-for-bce", f"{seen}; {c.name} wants float targets, got {_dt(y)}.", "y.float().")
    if c.name == "BCELoss" and x.is_floating_point() and bool(((x < 0) | (x > 1)).any()):
        return Diagnosis("logits-into-bce",
                         f"{seen}; BCELoss wants probabilities in [0, 1] but got raw scores.",
                         "use BCEWithLogitsLoss on the logits (numerically safer than sigmoid + BCELoss).")
    if c.name == "BCEWithLogitsLoss" and x.is_floating_point() and x.numel() > 1 and bool(
            ((x.detach() > 0) & (x.detach() < 1)).all()):
        return Diagnosis("sigmoid-before-loss",
                         f"{seen}; all inputs lie in (0, 1): they look like probabilities, but "
                         "BCEWithLogitsLoss applies the sigmoid itself and wants raw scores.",
                         "pass raw logits (remove the sigmoid).")
    return Diagnosis("ok", f"{seen}; this matches: {want}.")


# Error texts of torch 2.13 mapped to a tag, the rule the call broke, and the fix, for when only the
# exception is at hand. (pattern, tag, rule, fix)
_ERROR_PATTERNS = [
    # (N,) class ids against (N, C > 1) scores in a BCE loss: first, so it wins over the generic
    # "Target size ... must be the same" pattern, whose view_as advice cannot work there.
    (r"Target size \(torch\.Size\(\[(\d+)\]\)\) must be the same as input size "
     r"\(torch\.Size\(\[\1, (?!1\])\d+\]\)\)", "class-ids-for-bce",
     "(N,) class ids against (N, C) scores: a BCE loss wants one 0/1 label per score, in the input's shape.",
     "for one class per sample use CrossEntropyLoss with the (N,) int64 ids; for several labels per sample "
     "build an (N, C) float multi-hot target, e.g. F.one_hot(y, C).float()."),
    (r"0D or 1D target tensor expected, multi-target not supported", "target-extra-dim",
     "CrossEntropyLoss/NLLLoss got a target with more dims than class ids have: class ids are the input's "
     "shape without the class dim, one id per sample for (N, C) scores.",
     "squeeze a (N, 1) target with y.squeeze(1), or turn one-hot rows into ids with y.argmax(1)."),
    (r"expected target dtype to be Long or Byte, but got (\w+)", "float-class-ids",
     "class ids must be int64 (or uint8).", "y.long()."),
    (r"Expected floating point type for target with class probabilities, got Long", "one-hot-long",
     "a target of the input's shape is read as class probabilities, which must be float.",
     "y.argmax(1) for ids, or y.float() for probabilities."),
    (r"Target (-?\d+) is out of bounds", "labels-out-of-range",
     "a label lies outside 0..C-1, the range of the class dim.",
     "1-based labels need y - 1; padding needs ignore_index."),
    (r"Expected input batch_size \(1\) to match target batch_size \(0\)", "squeeze-ate-batch",
     "with N = 1 the target lost its batch dim: a squeeze of every dim of size 1 also removed N.",
     "y.squeeze(1) or y.view(-1)."),
    (r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)", "batch-mismatch",
     "the scores and the target have a different number of rows: dim 0 must count the same things on both "
     "sides (samples; or positions, once a sequence or an image is flattened).",
     "compare the two shapes before the reshape: a different batch size (a view with a hard-coded size, tensors "
     "from different batches) or a different length (a sequence whose target is longer or shorter than the "
     "output) each give this."),
    (r"Expected target size \[(\d+), (\d+)\], got \[", "class-dim-last",
     "the loss reads the classes from dim 1, and the target's shape must be the input's without that dim.",
     "permute (N, T, C) logits to (N, C, T)."),
    (r"Using a target size .* is deprecated", "shape-mismatch",
     "BCE needs the target in the input's exact shape.", "y.view_as(output)."),
    (r"Target size .* must be the same as input size", "shape-mismatch",
     "BCEWithLogitsLoss needs the target in the input's exact shape.", "y.view_as(output)."),
    (r"Found dtype (\w+) but expected Float", "int-target-for-bce", "the target must be float.", "y.float()."),
    (r"result type Float can't be cast to the desired output type", "int-target-for-bce",
     "the target must be float.", "y.float()."),
    (r"all elements of target should be between 0 and 1", "target-out-of-range",
     "BCELoss reads its target as a probability, so every target must lie in [0, 1]; some do not (labels in "
     "percent, or coded -1/+1?).", "map the labels into [0, 1] first: y / 100 for percent, (y + 1) / 2 for -1/+1."),
    (r"all elements of input should be between 0 and 1", "logits-into-bce",
     "BCELoss wants probabilities in [0, 1], and got scores outside it.", "BCEWithLogitsLoss on the logits."),
    (r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", "linear-in-features",
     "mat1 is (rows, features reaching Linear) and mat2 is the weight transposed, (in_features, "
     "out_features): the second number must equal the third.",
     "the rows are the batch size only if the input was flattened with x.flatten(1); a view(-1, k) or a "
     "hard-coded batch size moves features into rows. Give the Linear the real feature count."),
    (r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)", "shape-mismatch",
     "two shapes cannot broadcast.", "print both and check which dim is N."),
    (r"The expanded size of the tensor \((\d+)\) must match the existing size \((\d+)\)", "shape-mismatch",
     "expand/expand_as can only stretch dims of size 1 (that is broadcasting): a dim that already has another size "
     "cannot become this one.", "make the two shapes equal instead (view_as, squeeze(1), unsqueeze(1)), after "
     "checking which dim is N on each side."),
    (r"different to the input size.*broadcasting", "shape-mismatch",
     "the loss broadcast the target against the output: a value target must have exactly the output's shape.",
     "y.view_as(output)."),
    # a loss cut off from the model
    (r"element 0 of tensors does not require grad and does not have a grad_fn", "no-gradient",
     "the loss was computed from a tensor cut off from the model (.detach(), .item(), argmax, a threshold "
     "or torch.no_grad()), so no gradient reaches the weights.",
     "remove the cut; fix shapes with view_as, squeeze(1) or unsqueeze(1) instead."),
    # conv, pool and flatten layers
    (r"expected input\[\d+, \d+, \d+, (\d+)\] to have (\d+) channels, but got \d+ channels instead",
     "conv-channels", "Conv2d reads the channels from dim 1 of (N, C, H, W).",
     "if the last dim holds the channels, (N, H, W, C), use x.permute(0, 3, 1, 2), never view/reshape "
     "(that scrambles the pixels); otherwise make in_channels match the data (grayscale vs RGB)."),
    (r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d", "conv-rank",
     "Conv2d wants (N, C, H, W) or one (C, H, W) image.",
     "add the missing dim: x[:, None] for (N, H, W) grayscale, x[None] for a single (C, H, W) image."),
    (r"shape '\[.*\]' is invalid for input of size \d+", "view-size",
     "a view/reshape asked for a size that does not divide the tensor's elements: a hard-coded size.",
     "flatten per sample with x.flatten(1) (or x.view(x.size(0), -1)) and give the Linear the real "
     "number of features (dummy forward pass, nn.LazyLinear or adaptive pooling)."),
    (r"Attempted to use an uninitialized parameter", "lazy-uninitialized",
     "a Lazy layer (LazyLinear, LazyConv2d) has no weights until its first forward pass decides their shape, so "
     "nothing can count, copy or initialise them yet.",
     "run one forward pass on a dummy batch first, e.g. model(X[:2]), then count or initialise the parameters."),
    (r"Sizes of tensors must match except in dimension (\d+)\. Expected size (\d+) but got size (\d+)", "cat-rows",
     "torch.cat joins tensors along one dim, and every other dim must agree: here one tensor has a different "
     "number of rows (samples) than the other.",
     "print both shapes before the cat: a view/reshape with a hard-coded size moved features into rows; flatten "
     "per sample with x.flatten(1)."),
    (r"Output size is too small|Kernel size can't be greater than actual input size", "too-small",
     "the spatial size shrank to nothing before this layer.",
     "print the per-layer shape table, and use fewer pools or strides, padding, or larger images."),
    (r"Input type \((\w+)\) and bias type \((\w+)\) should be the same", "input-dtype",
     "the input's dtype differs from the layer's weights.", "x.float() (float64 numpy data?)."),
    (r"padding='same' is not supported for strided convolutions", "same-padding-stride",
     "padding='same' only works with stride 1.", "give the padding as a number, e.g. (kernel - 1) // 2."),
    # recurrent layers
    (r"RNN input dtype \(torch\.int64\) does not match weight dtype", "token-ids-into-rnn",
     "these are token ids, not features: an RNN wants a float vector per step.",
     "map them with nn.Embedding(V, E) (or F.one_hot(x, V).float()) before the RNN. Casting the ids to "
     "float runs, but tells the model that token 7 is 'more' than token 3."),
    (r"Expected hidden(\[0\])? size \((\d+), (\d+), (\d+)\), got \[(\d+), (\d+), (\d+)\]", "hidden-state-batch",
     "the initial hidden state was made for another batch size: the first shape is the one this input needs, "
     "the second the one it got.",
     "h0 is (layers * dirs, N, H) even when batch_first=True: size it from the input, "
     "torch.zeros(layers * dirs, x.size(0), H), or leave it out (zeros by default)."),
    (r"input\.size\(-1\) must be equal to input_size\. Expected (\d+), got (\d+)", "rnn-input-size",
     "the last dim of the RNN input must be its input_size (features per step).",
     "check the layout (N, T, F) with batch_first=True, and map token ids through nn.Embedding first."),
    (r"Expected input to be 2D or 3D, got (\d)D", "rnn-input-rank",
     "an RNN takes (N, T, F) with batch_first=True, (T, N, F) without, or one unbatched (T, F) sequence.",
     "add or remove the dim that makes it (N, T, F)."),
]


def explain_error(exc: BaseException) -> Diagnosis:
    """Map a torch exception (or warning) to a tag, the rule it broke, and the fix."""
    return explain_message(type(exc).__name__, str(exc))


def explain_message(name: str, text: str) -> Diagnosis:
    """explain_error for an error known only by its name and message (e.g. a notebook's output)."""
    for pattern, tag, rule, fix in _ERROR_PATTERNS:
        if re.search(pattern, text, flags=re.S):
            return Diagnosis(tag, f"{name}: {text.strip()}\n{rule}", fix)
    return Diagnosis("unknown", f"{name}: {text.strip()}")


# ============================================================================================
# Per-layer shape table (added for 04-convolutions-and-pooling): like a model summary, from one
# forward pass with hooks on the leaf modules. A model that fails mid-way shows the rows up to
# the failing layer and the error, which is where a spatial size or a flattened width went wrong.
from dataclasses import replace as _replace  # noqa: E402


@dataclass(frozen=True)
class LayerShape:
    """One call of a leaf module: its name in model.named_modules(), class, input and output shapes."""

    name: str
    type: str
    input: object            # shape tuple of the first input (a tuple of shapes for several inputs)
    output: object = None    # shape tuple of the output; None when this layer raised


@dataclass(repr=False)
class ShapeTable:
    """The rows of one forward pass; ``error`` and ``failed_at`` are set when the pass raised.

    ``failed_at`` is the failing layer's name, or "" when the model's own forward code (a view,
    a flatten, an arithmetic line between layers) raised.  ``output`` is the shape of model(x).
    """

    rows: list
    input: object
    output: object = None
    error: BaseException | None = None
    failed_at: str | None = None
    show_fix: bool = True    # lessons show the fix; an exercise's check keeps it for the hint

    def __getitem__(self, name: str) -> LayerShape:
        """The (last) row of the layer called ``name``."""
        for row in reversed(self.rows):
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r} ran; layers: {[r.name for r in self.rows]}")

    def __str__(self) -> str:
        shown = [("layer", "type", "input shape", "output shape"),
                 ("(input)", "", "", _shape_text(self.input))]
        for row in self.rows:
            raised = row.output is None and row.name == self.failed_at
            out = "\u2717 raised" if raised else _shape_text(row.output)
            shown.append((row.name, row.type, _shape_text(row.input), out))
        if self.error is None:
            shown.append(("(output)", "", "", _shape_text(self.output)))
        widths = [max(len(r[k]) for r in shown) for k in range(3)]
        lines = ["  ".join(r[k].ljust(widths[k]) for k in range(3)) + "  " + r[3] for r in shown]
        if self.error is not None:
            if self.failed_at:
                where = f"in layer {self.failed_at!r} ({self[self.failed_at].type})"
            elif self.rows:
                last = self.rows[-1]
                where = (f"in the model's own forward code, after layer {last.name!r} ({last.type}) "
                         f"returned {_shape_text(last.output)}")
            else:
                where = "before the first layer ran"
            lines.append(f"\u2717 {type(self.error).__name__} {where}:")
            lines.append(f"  {str(self.error).strip()}")
            diag = explain_error(self.error)
            if diag.tag != "unknown":
                lines.append("  " + diag.problem.split("\n", 1)[-1])
                if self.show_fix:
                    lines.append("  Likely fix: " + diag.fix)
        return "\n".join(line.rstrip() for line in lines)

    __repr__ = __str__


def _shape_of(obj):
    if isinstance(obj, torch.Tensor):
        return tuple(obj.shape)
    if isinstance(obj, (tuple, list)):
        return tuple(_shape_of(o) for o in obj)
    return None if obj is None else type(obj).__name__


def _shape_text(shape) -> str:
    if shape is None:
        return ""
    if isinstance(shape, str):
        return shape
    if all(isinstance(s, int) for s in shape):
        return shape_str(shape)
    return "[" + ", ".join(_shape_text(s) for s in shape) + "]"


def shape_table(model, x) -> ShapeTable:
    """Run model(x) once (no_grad) and return each leaf layer's name, type, input and output shape.

    ``x`` is one input tensor, or a tuple of inputs passed as model(*x).  Nothing is raised: when
    the forward pass fails, the table holds the rows up to the failing layer, and ``error`` and
    ``failed_at`` say what failed where.  print() it, or leave it last in a notebook cell.
    """
    rows, stack, handles = [], [], []
    leaves = []
    if isinstance(model, torch.nn.Module):
        leaves = [(name or type(model).__name__, m) for name, m in model.named_modules()
                  if next(m.children(), None) is None]

    def before(name):
        def hook(module, args):
            first = args[0] if len(args) == 1 else args
            rows.append(LayerShape(name, type(module).__name__, _shape_of(first)))
            stack.append(len(rows) - 1)
        return hook

    def after(module, args, out):
        i = stack.pop()
        rows[i] = _replace(rows[i], output=_shape_of(out))

    table = ShapeTable(rows, _shape_of(x[0] if isinstance(x, (tuple, list)) and len(x) == 1 else x))
    try:
        for name, m in leaves:
            handles.append(m.register_forward_pre_hook(before(name)))
            handles.append(m.register_forward_hook(after))
        with torch.no_grad():
            out = model(*x) if isinstance(x, (tuple, list)) else model(x)
        table.output = _shape_of(out)
    except Exception as exc:  # the model's bug, shown in the table
        table.error = exc
        table.failed_at = rows[stack[-1]].name if stack else ""
    finally:
        for h in handles:
            h.remove()
    return table
