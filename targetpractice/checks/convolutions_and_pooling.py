"""Checks for topic 04, convolutions and pooling: image data, the model-output check, the check that
given layers are kept, the per-row independence of a model with several inputs, the head's width
against what arrives, global average pooling and an average over time judged from what the head
receives, a per-pixel channel mix judged pixel by pixel, and lengths through a stack of layers.

Each failure says what the student's code produced (the shape, which dim is off, which layer
differs, what the head received, which pixel went wrong), never the code that fixes it: that is the
hint ladder's.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from ..diagnosis import describe, explain_error, shape_str
from .core import CheckFailed, _gap, _require_tensor, call, check_not_mutated, strict


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


def _dims_off(got: tuple, expected: tuple, batch: int, arg: str = "X") -> str:
    """Which dims of got differ from expected, in words: "dim 2 has size 7 where 5 is expected"."""
    if len(got) != len(expected):
        return f"it has {len(got)} dim{'s' if len(got) != 1 else ''} where {len(expected)} are expected"
    off = []
    for d, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            off.append(f"dim 0, the batch, has {g} rows, but {arg} holds N = {batch}" if d == 0 else
                       f"dim {d} has size {g} where {e} is expected")
    return "; ".join(off)


def _inputs_text(names: list, inputs: tuple) -> str:
    return " and ".join(f"{n} {describe(t)}" for n, t in zip(names, inputs))


def check_model_output(model, X, expected_shape, *, what: str = "model(X)", arg: str = "X") -> None:
    """model(X) must run, return a tensor of expected_shape and leave X as it was.

    X is one input tensor, or a tuple of them (model(*X)); ``arg`` names them, comma-separated.
    On failure the message says which dims are off and carries the per-layer shape table
    (diagnosis.shape_table, without its fix line), so the student sees the layer where a size went
    wrong, not a traceback into the checker.
    """
    from ..diagnosis import shape_table

    inputs = X if isinstance(X, tuple) else (X,)
    names = [a.strip() for a in arg.split(",")] if isinstance(X, tuple) else [arg]
    expected = tuple(expected_shape)
    before = [t.detach().clone() for t in inputs]
    with strict():
        table = shape_table(model, X)
    table.show_fix = False                       # the fix is the hint ladder's last rung
    layers = f" Shapes layer by layer:\n{table}" if table.rows else ""
    if isinstance(table.error, CheckFailed):     # a check inside the call (the grader's channel) failed
        raise table.error
    if table.error is not None:
        shown = str(table) if table.rows else explain_error(table.error).problem
        raise CheckFailed(f"{what} raised an error for {_inputs_text(names, inputs)}:\n{shown}",
                          explain_error(table.error).tag)
    check_not_mutated(what, dict(zip(names, before)), {n: t.detach() for n, t in zip(names, inputs)})
    if table.output != expected:
        if table.output is None:
            got, off = "None (did it forget to return?)", ""
        elif isinstance(table.output, str) or not all(isinstance(s, int) for s in table.output):
            got, off = (table.output if isinstance(table.output, str) else repr(table.output)), ""
        else:
            got = shape_str(table.output)
            off = f": {_dims_off(tuple(table.output), expected, inputs[0].shape[0], names[0])}"
        tag = ("batch-rows" if isinstance(table.output, tuple) and len(table.output) == len(expected)
               and table.output[:1] != expected[:1] else "output-shape")
        raise CheckFailed(f"{what} returned {got} for {_inputs_text(names, inputs)}; expected "
                          f"{shape_str(expected)}{off}.{layers}", tag)


def check_rows_follow_their_inputs(model, inputs: dict, *, what: str) -> None:
    """Row n of model(*inputs) must depend on sample n of every input and on nothing else: changing
    sample 0 of one input changes row 0 of the output (that input is used) and no other row."""
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        base = _require_tensor(call(model, dict(inputs), what=what), what)
        for name, t in inputs.items():
            moved = dict(inputs)
            moved[name] = t.clone()
            moved[name][0] = moved[name][0] + 1.0
            out = _require_tensor(call(model, moved, what=what), what, shape=base.shape)
            others, own = _gap(base[1:], out[1:]), _gap(base[:1], out[:1])
            if not others <= 1e-6:
                raise CheckFailed(f"Changing sample 0 of {name} {describe(t)} changed the outputs of other samples "
                                  f"by up to {others:.3g}: in {what}, information flows from one sample to another, "
                                  "and a sample's scores must depend on that sample alone.", "batch-mixing")
            if not own > 1e-6:
                raise CheckFailed(f"Changing sample 0 of {name} {describe(t)} left every output of {what} as it was: "
                                  f"the scores do not depend on {name} at all.", "input-unused")


def _type_name(module) -> str:
    """The class name of a layer, also for the grader's handle on a layer in the student's kernel."""
    if getattr(type(module), "__tp_remote__", False):
        return str(module._type).rsplit(".", 1)[-1]
    return type(module).__qualname__


def _layer(model, path: str):
    """(type name, extra_repr) of the layer at path, or None; for a module here or a handle on one."""
    try:
        with strict():
            layer = model.get_submodule(path)
            return _type_name(layer), layer.extra_repr()
    except CheckFailed:
        raise
    except Exception:  # noqa: BLE001 - no layer of that name
        return None


def check_head_width(model, path: str, expected: int, *, what: str, arrives: dict, rule: str) -> None:
    """The Linear layer at ``path`` (after a forward pass) must read exactly ``expected`` features per row.

    On a mismatch the message gives the head's width, the shapes of what really reaches the model
    (``arrives``: {name: tensor}, measured by the check) and ``rule``, what the head reads in words,
    never the width it should have: working that out from the shapes is the student's part.
    """
    found = _layer(model, path)
    if found is None:
        raise CheckFailed(f"{what} has no layer {path!r}: the exercise keeps that name for the head.", "changed-layers")
    kind, settings = found
    width = re.search(r"in_features=(\d+)", settings)
    if kind not in ("Linear", "LazyLinear") or width is None:
        raise CheckFailed(f"{what}.{path} is {kind}({settings}); the exercise's head is a Linear layer.",
                          "changed-layers")
    got = int(width.group(1))
    if got != expected:
        seen = " and ".join(f"{name} is {shape_str(tuple(t.shape))}" for name, t in arrives.items())
        raise CheckFailed(f"{what}.{path} reads {got} features per row, {'fewer' if got < expected else 'more'} "
                          f"than it should. Measured on this batch: {seen}; {rule}.", "linear-in-features")


# ------------------------------------------------------------------ the layers an exercise gives
def layer_list(model, path: str = "") -> list:
    """'Type(settings)' of each layer of the container at ``path`` (layers path.0, path.1, ...).

    Works on a module in this process and on the grader's handle on one in the student's kernel
    (get_submodule and extra_repr cross as plain strings). [] when there is no such container.
    """
    layers = []
    for i in range(64):
        found = _layer(model, f"{path}.{i}" if path else str(i))
        if found is None:
            break
        layers.append(f"{found[0]}({found[1]})")
    return layers


def check_keeps_layers(model, given, *, what: str, paths=("features",), unpacked: bool = False) -> None:
    """The layers at one of ``paths`` of model must be exactly the layers of ``given`` (an nn.Sequential
    the exercise's text shows): same types, same settings, same order.

    ``unpacked``: the given layers may also be the first layers of model itself
    (``nn.Sequential(*features, ...)``).
    """
    want = layer_list(given)
    found = {p: layer_list(model, p) for p in paths}
    if any(layers == want for layers in found.values()):
        return
    if unpacked:
        top = layer_list(model)
        if top[:len(want)] == want:
            return
        found.setdefault("", top)
    path, got = max(found.items(), key=lambda kv: len(kv[1]))
    where = (f"{what}[{path}]" if path.isdigit() else f"{what}.{path}") if path else what
    listing = "\n".join(f"  {i}: {layer}" for i, layer in enumerate(got)) or "  (no layers numbered 0, 1..)"
    given_text = "\n".join(f"  {i}: {layer}" for i, layer in enumerate(want))
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    if first < len(got) and first < len(want):
        differs = f"layer {first} is {got[first]} where the given layers have {want[first]}"
    elif len(got) < len(want):
        differs = f"layer {first} of the given layers, {want[first]}, is missing"
    else:
        differs = f"layer {first}, {got[first]}, is not among the given layers"
    raise CheckFailed(f"The exercise keeps the given feature layers as they are, and {where} differs from "
                      f"them: {differs}.\n{where} has:\n{listing}\nThe given layers are:\n{given_text}",
                      "changed-layers")


# ------------------------------------------------------------------ global average pooling
def _output_and_feature_maps(model, X: torch.Tensor, what: str) -> tuple:
    """model(X) and model.features(X) in eval mode; the features must be (N, C, H, W) feature maps."""
    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        out = _require_tensor(call(model, {"X": X}, what=what), what)
        feats = _require_tensor(call(model.features, {"X": X}, what="model.features(X)"), "the features")
    if feats.dim() != 4:
        raise CheckFailed(f"the feature layers give {describe(feats)}; (N, C, H, W) feature maps expected.",
                          "changed-layers")
    return out, feats


def check_global_average(model, X: torch.Tensor, *, what: str) -> None:
    """model(X) must be model.head applied to one number per feature map of model.features(X): the map's
    average over all its H x W positions. On a mismatch the message says what the head got instead,
    when that is a known reduction (the maximum, the sum)."""
    out, feats = _output_and_feature_maps(model, X, what)
    with torch.no_grad():
        H, W = feats.shape[2:]
        candidates = {"the average of each feature map over its H x W positions": feats.mean(dim=(2, 3)),
                      "the maximum of each feature map": feats.amax(dim=(2, 3)),
                      f"the sum of each feature map (H x W = {H * W} times its average)": feats.sum(dim=(2, 3))}
        scores = {}
        for name, pooled in candidates.items():
            scores[name] = _gap(call(model.head, {"features": pooled}, what="the head"), out)
            if name.startswith("the average") and scores[name] <= 1e-4:
                return
    known = [name for name, gap in scores.items() if gap <= 1e-4]
    got = f"it gets {known[0]}" if known else "what it gets is not one average per feature map"
    raise CheckFailed(f"{what} returns {describe(out)} for X {describe(X)}, but not from one number per feature "
                      f"map averaged over H x W = {H} x {W}: the head's output differs from the head applied to "
                      f"those averages, (N, {feats.shape[1]}); {got}.", "global-pool")


# ------------------------------------------------------------------ an average over time only
def check_time_average(model, X: torch.Tensor, *, what: str) -> None:
    """model(X) must be model.head applied to, for each feature map of model.features(X) and each of its
    rows (the frequency bands), the average over that row's W positions (the time steps): (N, C * H), in
    either order of C and H. On a mismatch the message says what the head got instead, when that is a
    known reduction."""
    out, feats = _output_and_feature_maps(model, X, what)
    with torch.no_grad():
        C, H, W = feats.shape[1:]
        right = (feats.mean(dim=3).flatten(1), feats.mean(dim=3).transpose(1, 2).flatten(1))
        candidates = {f"the maximum of each row over its {W} time steps": feats.amax(dim=3).flatten(1),
                      f"the sum of each row over time ({W} times its average)": feats.sum(dim=3).flatten(1),
                      "one average per feature map over both frequency and time": feats.mean(dim=(2, 3)),
                      "one average per frequency row over the feature maps and time": feats.mean(dim=(1, 3))}

        def gap(pooled):
            try:
                return _gap(call(model.head, {"features": pooled}, what="the head"), out)
            except CheckFailed:                  # the head cannot read this width: not what it got
                return float("inf")

        if any(gap(pooled) <= 1e-4 for pooled in right):
            return
        known = [name for name, pooled in candidates.items() if gap(pooled) <= 1e-4]
    got = f"it gets {known[0]}" if known else "what it gets is not those averages"
    raise CheckFailed(f"{what} returns {describe(out)} for X {describe(X)}, but not from the averages over time: "
                      f"the feature layers give {shape_str(tuple(feats.shape))} (N, feature maps, frequency rows, "
                      f"time steps), and the head's output differs from the head applied to the {C} x {H} averages "
                      f"of each sample, one per feature map and frequency row; {got}.", "time-pool")


# ------------------------------------------------------------------ a channel mix, pixel by pixel
def check_channel_mix(out, feats: torch.Tensor, expected: torch.Tensor, *, what: str) -> None:
    """out must be (N, C_out, H, W) with out[n, :, i, j] the mix of pixel (i, j)'s own channels: expected is
    the right answer. On a mismatch the message names the first wrong pixel and the share of wrong ones."""
    out = _require_tensor(out, what)
    feats = feats.detach()
    if tuple(out.shape) != tuple(expected.shape):
        off = _dims_off(tuple(out.shape), tuple(expected.shape), feats.shape[0], "feats")
        raise CheckFailed(f"{what} returned {describe(out)}; expected {shape_str(expected.shape)} for feats "
                          f"{describe(feats)}: {off}.", "output-shape")
    wrong = ((out.detach() - expected.detach()).abs() > 1e-5).any(dim=1).nonzero()    # (k, 3): n, i, j
    if len(wrong):
        n, i, j = wrong[0].tolist()
        share = len(wrong) / (out.shape[0] * out.shape[2] * out.shape[3])
        held = [round(float(v), 4) for v in out.detach()[n, :, i, j]]
        own = [round(float(v), 4) for v in feats[n, :, i, j]]
        raise CheckFailed(f"{what} has the right shape, but not the right values: {what}[{n}, :, {i}, {j}] is "
                          f"{held}, which is not the mix of that pixel's own channels {own} (feats[{n}, :, {i}, "
                          f"{j}]); {share:.0%} of the pixels are wrong. Each output pixel mixes the channels of "
                          "the same pixel of the same image.", "scrambled-pixels")


def check_gradient_flows_back(out: torch.Tensor, images: torch.Tensor, reference, *, what: str) -> None:
    """The gradient of a weighted sum of out must reach ``images`` (a leaf that requires grad) exactly as it
    reaches them through ``reference`` (a function of images alone): every position gets its own weight."""
    g = torch.Generator().manual_seed(int(images.numel()))
    weights = torch.randn(tuple(out.shape), generator=g)            # a different weight at every position
    if not out.requires_grad:
        raise CheckFailed(f"{what} returned the right values, but cut off from its input: no gradient flows "
                          "back through the result, so nothing before it would learn.", "no-gradient")
    images.grad = None
    (out * weights).sum().backward()
    again = images.detach().clone().requires_grad_(True)
    (reference(again) * weights).sum().backward()
    if images.grad is None or not torch.allclose(images.grad, again.grad, atol=1e-5):
        which = "missing" if images.grad is None else "not the one of those values"
        raise CheckFailed(f"{what} returned the right values, but the gradient that reaches its input is "
                          f"{which}.", "wrong-gradient")


# ------------------------------------------------------------------ a length through a stack of layers
def _pixels(n: int) -> str:
    return f"{n} pixel{'s' if n != 1 else ''}"


def check_length(got, real: int, *, call: str, layer: str, size: int) -> None:
    """A side length after one layer or a stack of them: a Python int, what the real layers give."""
    real = int(real)
    if type(got) is not int:
        kind = describe(got).split(",")[0]
        same = isinstance(got, (int, float)) and not isinstance(got, bool) and got == real
        raise CheckFailed(f"{call} returned {got!r}, {kind}"
                          + (f": the value is right ({layer} gives {real}), but " if same else
                             f"; {layer} turns {_pixels(size)} into {real}, and ")
                          + "a length is a whole number of pixels, a Python int.", "not-an-int")
    if got != real:
        more = got - real
        raise CheckFailed(f"{call} returned {got}, but {layer} turns {_pixels(size)} into {real}: "
                          f"{_pixels(abs(more))} {'more' if more > 0 else 'fewer'} than the real layers give.",
                          "conv-formula")


def check_smallest_size(got, real: int, *, call: str, layer: str, side: int) -> None:
    """The smallest square image size for which ``layer`` gives at least side x side: a Python int."""
    real = int(real)
    if type(got) is not int:
        kind = describe(got).split(",")[0]
        same = isinstance(got, (int, float)) and not isinstance(got, bool) and got == real
        raise CheckFailed(f"{call} returned {got!r}, {kind}" + (": the value is right, but " if same else "; ")
                          + "an image size is a whole number of pixels, a Python int.", "not-an-int")
    if got < real:
        raise CheckFailed(f"{call} returned {got}, but on images of {got} x {got} pixels {layer} gives less than "
                          f"{side} x {side} (or fails): that image is too small.", "conv-formula")
    if got > real:
        raise CheckFailed(f"{call} returned {got}. On images of {got} x {got} pixels {layer} does give at least "
                          f"{side} x {side}, but so does a smaller image: {got} is not the smallest size.",
                          "conv-formula")
