"""Loss shape contracts: what each loss accepts, as data.

The texts come from the torch 2.13 docstrings ("Shape:") and were checked by
running each loss (see ../shared/reference/loss-shapes.md).  The diagnosis
module and the checks read these contracts; lessons print them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
CLASS_ID = (torch.int64, torch.uint8)


@dataclass(frozen=True)
class TargetForm:
    """One accepted form of the target."""

    name: str          # "class ids", "class probabilities", "same shape"
    shape: str         # in words, relative to the input
    dtypes: tuple      # accepted torch dtypes
    values: str = ""   # value constraints in words


@dataclass(frozen=True)
class LossContract:
    name: str
    input: str                 # accepted input shapes, in words
    input_is: str              # "logits", "log-probabilities", "probabilities", "values"
    targets: tuple             # TargetForm, ...
    family: str                # "class-ids", "same-shape", "ctc"
    functional: str            # name in torch.nn.functional
    notes: tuple = field(default=())

    def describe(self) -> str:
        lines = [f"{self.name}: input {self.input} ({self.input_is})"]
        for t in self.targets:
            dt = "/".join(str(d).replace("torch.", "") for d in t.dtypes)
            extra = f", {t.values}" if t.values else ""
            lines.append(f"  target as {t.name}: {t.shape}, {dt}{extra}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


_IDS = TargetForm("class ids", "the input's shape without dim 1: (N,) or (N, d1, ...)",
                  CLASS_ID, "0 <= y < C (or ignore_index)")
_SAME_FLOAT = TargetForm("same shape", "exactly the input's shape", FLOAT)

CONTRACTS = {
    c.name: c
    for c in [
        LossContract(
            "CrossEntropyLoss", "(N, C) or (N, C, d1, ...); class dim is dim 1", "logits",
            (_IDS, TargetForm("class probabilities", "exactly the input's shape", FLOAT,
                              "rows sum to 1 over dim 1")),
            "class-ids", "cross_entropy",
            ("log_softmax + NLL inside: pass raw logits, never softmax outputs",)),
        LossContract(
            "NLLLoss", "(N, C) or (N, C, d1, ...); class dim is dim 1", "log-probabilities",
            (_IDS,), "class-ids", "nll_loss",
            ("apply log_softmax(dim=1) first; no probability-target form",)),
        LossContract(
            "BCELoss", "any shape (*)", "probabilities",
            (TargetForm("same shape", "exactly the input's shape", FLOAT, "0 <= y <= 1"),),
            "same-shape", "binary_cross_entropy",
            ("input must already be in [0, 1]; prefer BCEWithLogitsLoss on logits",)),
        LossContract(
            "BCEWithLogitsLoss", "any shape (*)", "logits",
            (TargetForm("same shape", "exactly the input's shape", FLOAT, "0 <= y <= 1"),),
            "same-shape", "binary_cross_entropy_with_logits",
            ("pos_weight is (C,) for (N, C) and (C, 1, 1) for (N, C, H, W)",)),
        LossContract(
            "MSELoss", "any shape (*)", "values", (_SAME_FLOAT,), "same-shape", "mse_loss",
            ("a different target shape only warns, then broadcasts: (N, 1) vs (N,) gives (N, N)",)),
        LossContract(
            "L1Loss", "any shape (*)", "values", (_SAME_FLOAT,), "same-shape", "l1_loss",
            ("a different target shape only warns, then broadcasts",)),
        LossContract(
            "SmoothL1Loss", "any shape (*)", "values", (_SAME_FLOAT,), "same-shape",
            "smooth_l1_loss", ()),
        LossContract(
            "HuberLoss", "any shape (*)", "values", (_SAME_FLOAT,), "same-shape", "huber_loss", ()),
        LossContract(
            "CTCLoss", "log_probs (T, N, C), time first", "log-probabilities",
            (TargetForm("padded targets", "(N, S), with input_lengths (N,) and target_lengths (N,)",
                        (torch.int64, torch.int32), "1 <= y < C (0 is the blank)"),
             TargetForm("concatenated targets", "(sum(target_lengths),)",
                        (torch.int64, torch.int32), "1 <= y < C (0 is the blank)")),
            "ctc", "ctc_loss",
            ("log_softmax(2) then permute(1, 0, 2) from a batch-first (N, T, C) output",)),
    ]
}

_ALIASES = {
    "cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "mse_loss": "MSELoss", "l1_loss": "L1Loss", "smooth_l1_loss": "SmoothL1Loss",
    "huber_loss": "HuberLoss", "ctc_loss": "CTCLoss",
}


def contract_for(loss) -> LossContract:
    """Find the contract for a loss given as a name, an nn.Module class or instance, or a function."""
    if isinstance(loss, LossContract):
        return loss
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, type):
        name = loss.__name__
    elif isinstance(loss, torch.nn.Module):
        name = type(loss).__name__
    else:
        name = getattr(loss, "__name__", repr(loss))
    name = _ALIASES.get(name, name)
    if name not in CONTRACTS:
        known = ", ".join(sorted(CONTRACTS))
        raise KeyError(f"no shape contract for {name!r}; known losses: {known}")
    return CONTRACTS[name]


def expected_target_shapes(loss, input_shape) -> dict:
    """The target shapes a loss accepts for this input shape, keyed by target form name."""
    c = contract_for(loss)
    shape = tuple(input_shape)
    if c.family == "class-ids":
        ids = shape[:1] + shape[2:] if len(shape) >= 2 else ()
        out = {"class ids": ids}
        if c.name == "CrossEntropyLoss":
            out["class probabilities"] = shape
        return out
    if c.family == "same-shape":
        return {"same shape": shape}
    if c.family == "ctc" and len(shape) == 3:
        return {"padded targets": (shape[1], "S")}
    return {}
