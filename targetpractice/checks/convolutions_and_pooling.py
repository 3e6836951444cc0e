"""Checks for topic 04, convolutions and pooling: image data, the model-output check, the check that
given layers are kept, and the pixel-by-pixel check of a layout change.

Each failure says what the student's code produced (the shape, which dim is off, which layer
differs, where the values came from), never the code that fixes it: that is the hint ladder's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..diagnosis import describe, explain_error, shape_str
from .core import CheckFailed, check_not_mutated, strict


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


def check_model_output(model, X: torch.Tensor, expected_shape, *, what: str = "model(X)",
                       arg: str = "X") -> None:
    """model(X) must run, return a tensor of expected_shape and leave X as it was.

    On failure the message says which dims are off and carries the per-layer shape table
    (diagnosis.shape_table, without its fix line), so the student sees the layer where a size went
    wrong, not a traceback into the checker.
    """
    from ..diagnosis import shape_table

    expected = tuple(expected_shape)
    before = X.detach().clone()
    with strict():
        table = shape_table(model, X)
    table.show_fix = False                       # the fix is the hint ladder's last rung
    layers = f" Shapes layer by layer:\n{table}" if table.rows else ""
    if isinstance(table.error, CheckFailed):     # a check inside the call (the grader's channel) failed
        raise table.error
    if table.error is not None:
        shown = str(table) if table.rows else explain_error(table.error).problem
        raise CheckFailed(f"{what} raised an error for {arg} {describe(X)}:\n{shown}",
                          explain_error(table.error).tag)
    check_not_mutated(what, {arg: before}, {arg: X.detach()})
    if table.output != expected:
        if table.output is None:
            got, off = "None (did it forget to return?)", ""
        elif isinstance(table.output, str) or not all(isinstance(s, int) for s in table.output):
            got, off = (table.output if isinstance(table.output, str) else repr(table.output)), ""
        else:
            got = shape_str(table.output)
            off = f": {_dims_off(tuple(table.output), expected, X.shape[0], arg)}"
        tag = ("batch-rows" if isinstance(table.output, tuple) and len(table.output) == len(expected)
               and table.output[:1] != expected[:1] else "output-shape")
        raise CheckFailed(f"{what} returned {got} for {arg} {describe(X)}; expected {shape_str(expected)}"
                          f"{off}.{layers}", tag)


# ------------------------------------------------------------------ the layers an exercise gives
def _type_name(module) -> str:
    """The class name of a layer, also for the grader's handle on a layer in the student's kernel."""
    if getattr(type(module), "__tp_remote__", False):
        return str(module._type).rsplit(".", 1)[-1]
    return type(module).__qualname__


def layer_list(model, path: str = "") -> list:
    """'Type(settings)' of each layer of the container at ``path`` (layers path.0, path.1, ...).

    Works on a module in this process and on the grader's handle on one in the student's kernel
    (get_submodule and extra_repr cross as plain strings). [] when there is no such container.
    """
    layers = []
    for i in range(64):
        name = f"{path}.{i}" if path else str(i)
        try:
            with strict():
                layer = model.get_submodule(name)
                settings = layer.extra_repr()
        except CheckFailed:
            raise
        except Exception:  # noqa: BLE001 - no layer of that name: the list ends here
            break
        layers.append(f"{_type_name(layer)}({settings})")
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


# ------------------------------------------------------------------ a layout change, pixel by pixel
def _where(value: float, source: torch.Tensor) -> str:
    """The position of an exact value in source, as (image, row, column, colour) of (N, H, W, C) images."""
    hits = (source == value).nonzero()
    if len(hits) != 1:
        return "?"
    n, i, j, c = hits[0].tolist()
    return f"(image {n}, row {i}, column {j}, colour {c})"


def check_same_pixels(out: torch.Tensor, images: torch.Tensor, expected: torch.Tensor, *, what: str) -> None:
    """out, an (N, C, H, W) layout of the channels-last ``images`` (N, H, W, C), must hold every pixel's
    own colours: expected is the right answer for these images. On a mismatch the message says which
    input positions the produced colours came from."""
    out, images = out.detach(), images.detach()
    if tuple(out.shape) != tuple(expected.shape):
        off = _dims_off(tuple(out.shape), tuple(expected.shape), images.shape[0], "images")
        raise CheckFailed(f"{what} returned {describe(out)}; expected {shape_str(expected.shape)} for "
                          f"images {describe(images)}: {off}.", "output-shape")
    wrong = (out != expected.detach()).any(dim=1).nonzero()          # (k, 3) positions n, i, j
    if len(wrong):
        n, i, j = wrong[0].tolist()
        came_from = ", ".join(_where(float(v), images) for v in out[n, :, i, j])
        share = len(wrong) / (out.shape[0] * out.shape[2] * out.shape[3])
        held = [round(float(v), 4) for v in out[n, :, i, j]]
        own = [round(float(v), 4) for v in images[n, i, j, :]]
        raise CheckFailed(f"{what} has the right shape, but not the right pixels: {what}[{n}, :, {i}, {j}] "
                          f"is {held}, and pixel (row {i}, column {j}) of image {n} has the colours {own}. "
                          f"The values it holds come from {came_from} of the images; {share:.0%} of the "
                          "pixels are wrong. A pixel's colours stay together, at its own row and column.",
                          "scrambled-pixels")


# ------------------------------------------------------------------ lengths and predicted shapes
def _pixels(n: int) -> str:
    return f"{n} pixel{'s' if n != 1 else ''}"


def check_length(got, real: int, *, call: str, layer: str, size: int) -> None:
    """An output-size formula's answer: a Python int, what the real layer gives for size pixels."""
    if type(got) is not int:
        kind = describe(got).split(",")[0]
        same = isinstance(got, (int, float)) and not isinstance(got, bool) and got == real
        raise CheckFailed(f"{call} returned {got!r}, {kind}"
                          + (f": the value is right ({layer} gives {real}), but " if same else
                             f"; {layer} turns {_pixels(size)} into {real}, and ")
                          + "a length is a whole number of pixels, a Python int.", "not-an-int")
    if got != real:
        more = got - real
        raise CheckFailed(f"{call} returned {got}, but {layer} turns {_pixels(size)} into {real}: your "
                          f"formula counts {abs(more)} window position{'s' if abs(more) != 1 else ''} "
                          f"{'more' if more > 0 else 'fewer'} than the layer does.", "conv-formula")


def check_layer_shape(name: str, predicted, actual, *, layer: str) -> None:
    """A 'predict the shape after this layer' answer; the message names the layer, not the number of dims."""
    from .core import check_shape

    try:
        check_shape(name, predicted, actual)
    except CheckFailed as exc:
        if "you predicted" not in str(exc):
            raise                                    # not a tuple of ints: core's message says so
        guess = shape_str(tuple(int(s) for s in predicted))
        raise CheckFailed(f"{name}: you predicted {guess}, and that is not the shape that {layer} gives. "
                          "Start from the shape that goes into it: which dims does the layer keep, which "
                          "does it change, and what does its size rule give for them?", exc.tag) from None


def check_gradient_flows_back(out: torch.Tensor, images: torch.Tensor, reference, *, what: str) -> None:
    """The gradient of a weighted sum of out must reach ``images`` (a leaf that requires grad) exactly as it
    reaches them through ``reference``, the right layout change: every position gets its own weight."""
    g = torch.Generator().manual_seed(int(images.numel()))
    weights = torch.randn(tuple(out.shape), generator=g)            # a different weight at every position
    if not out.requires_grad:
        raise CheckFailed(f"{what} returned the right values, but cut off from images: no gradient flows "
                          "back through the result, so nothing before it would learn.", "no-gradient")
    images.grad = None
    (out * weights).sum().backward()
    again = images.detach().clone().requires_grad_(True)
    (reference(again) * weights).sum().backward()
    if images.grad is None or not torch.equal(images.grad, again.grad):
        which = "missing" if images.grad is None else "not the one of those values"
        raise CheckFailed(f"{what} returned the right values, but the gradient that reaches images is "
                          f"{which}.", "wrong-gradient")
