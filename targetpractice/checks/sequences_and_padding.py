"""Checks for topic 05, sequences and padding: token-level references, padded batches (right or
left), padding invariance, held-out training, recurrent layouts (time-first inputs, initial states),
pooled sentence vectors, encoder-decoder and language-model losses. Classes are in the LAST dim of
a model's scores here: (N, T, V), (N, C), or (T, N, C) for a time-first model.

A failing check says what the student's code produced (the call, the shapes and dtypes it saw, the
value it returned and which mistake gives exactly that value, the axis that is off), never the code
that fixes it: that is the last rung of the exercise's hint ladder (hints.toml).
"""
from __future__ import annotations

import re

import torch
from torch import nn

from ..diagnosis import describe, explain_error, shape_str
from .core import (CheckFailed, _args_text, _gap, _no_grad, _require_tensor, call, check_not_mutated,
                   held_out_split, strict, train_steps)

F = torch.nn.functional


def token_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The known-good loss for training a tagger in a check: scores (N, T, V), ids (N, T)."""
    return torch.nn.functional.cross_entropy(out.permute(0, 2, 1), y)   # (N, V, T) with (N, T)


def padding_mask(lengths: torch.Tensor, T: int, side: str = "right") -> torch.Tensor:
    """(N, T) bool, True on the real tokens of each row: its first lengths[n] steps when the batch is
    padded on the right, its last lengths[n] steps when it is padded on the left."""
    steps = torch.arange(T)[None, :]                              # (1, T)
    if side == "left":
        return steps >= (T - lengths)[:, None]
    return steps < lengths[:, None]


def token_batch(N: int, T: int, V: int, seed: int = 0, pad: int | None = None,
                min_length: int = 1, side: str = "right"):
    """Random logits (N, T, V), ids y (N, T) and lengths (N,).

    With ``pad`` given, row n holds lengths[n] real tokens and is padded with that value on the
    ``side`` given (one row, when N >= 2, is full length); without it every row is full length.
    """
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((N, T, V), generator=g)                 # (N, T, V)
    y = torch.randint(0, V, (N, T), generator=g)                 # (N, T)
    if pad is None:
        return logits, y, torch.full((N,), T)
    lengths = torch.randint(min_length, T + 1, (N,), generator=g)  # (N,)
    if N >= 2:
        lengths[0] = T
    y = y.masked_fill(~padding_mask(lengths, T, side), pad)
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


# ----------------------------------------------------------------------------- calling the student's code
def _first_tensor(args: dict):
    return next((v for v in args.values() if isinstance(v, torch.Tensor)), None)


_HIDDEN_SIZE = r"Expected hidden(?:\[0\])? size \((\d+), (\d+), (\d+)\), got \[(\d+), (\d+), (\d+)\]"


def _explain_rnn_error(exc: BaseException, args: dict) -> tuple:
    """(tag, text) for an exception of the student's code: torch's own message, then what it means
    here, from the shapes this call saw. Never the code that fixes it (the hint ladder's last rung)."""
    name, text = type(exc).__name__, str(exc).strip()
    diag = explain_error(exc)
    rule = diag.problem.split("\n", 1)[1] if "\n" in diag.problem else ""
    X = _first_tensor(args)
    m = re.search(_HIDDEN_SIZE, text)
    if m:
        want, got = tuple(int(v) for v in m.groups()[:3]), tuple(int(v) for v in m.groups()[3:])
        n = want[1]
        time_steps = X is not None and X.dim() >= 2 and got[1] == X.shape[1] != X.shape[0]
        if got[1] != n and got[0] == n:
            rule = (f"this batch has N = {n} sequences, and the initial state {shape_str(got)} holds {n} "
                    "in dim 0; the GRU looks for the batch size of its initial state in dim 1, whatever "
                    "the layout of its input.")
        elif got[1] != n and time_steps:
            rule = (f"the initial state was sized with {got[1]}, the number of time steps T of X "
                    f"{describe(X)}, where this batch has N = {n} sequences.")
        elif got[1] != n:
            rule = (f"the initial state was built for a batch of {got[1]} sequences, and this call has "
                    f"N = {n}: a state made once, for one batch size, does not fit a batch of another size.")
        return "hidden-state-batch", f"{name}: {text}\n{rule}"
    if "index out of range in self" in text and X is not None and not X.is_floating_point() and X.numel():
        return "id-out-of-range", (f"{name}: {text}\na lookup (an embedding table, or indexing with the "
                                   f"ids) got an id past its last row: X holds ids from {int(X.min())} to "
                                   f"{int(X.max())}, and the table has fewer rows than that.")
    if "index out of range in self" in text and X is not None and X.numel():
        return "id-out-of-range", (f"{name}: {text}\na lookup (an embedding table, or indexing with ids) got "
                                   "an id outside its rows, 0 to (its size - 1). The values in X run from "
                                   f"{float(X.min()):.3g} to {float(X.max()):.3g}: an id past the table's "
                                   "last row, or a value that is no id (negative, or cut to an integer), "
                                   "was looked up.")
    if diag.tag == "token-ids-into-rnn":
        rule = ("the recurrent layer got int64 token ids as its input features. It multiplies its inputs "
                "by float weights; an id names a token and is not an amount (a cast makes the call run, "
                "but then id 7 is 'more' than id 6, and ids that are near each other look alike).")
    elif diag.tag == "rnn-input-size":
        rule = "the last dim of a recurrent layer's input must hold the features per step it was built for."
        m = re.search(r"Expected (\d+), got (\d+)", text)
        if m and X is not None and X.dim() >= 2:
            want, got = int(m.group(1)), int(m.group(2))
            dims = [i for i, size in enumerate(X.shape) if size == want]
            if dims and want != got:
                rule += (f" The layer was built for {want} features per step and got {got} in the last dim of "
                         f"its input; in X {describe(X)}, {want} is the size of dim {dims[0]}.")
    return diag.tag, f"{name}: {text}" + (f"\n{rule}" if rule else "")


def call_sequence_model(fn, args: dict, *, what: str | None = None):
    """call() for a function or a model: an exception becomes a CheckFailed that says what the call saw
    and what the error means for these shapes."""
    return call(fn, args, what=what, explain=_explain_rnn_error)


def _rnn_layout(model, n_features: int = 1):
    """Whether the model's recurrent layer ``model.rnn`` was built batch-first (True) or time-first (False),
    found by running it on zeros (2, 3, F) and reading the batch size from its final state; None when the
    model has no such layer. Its input size is read from its own error message when the guess is off."""
    for _ in range(2):
        try:
            with _no_grad():
                result = model.rnn(torch.zeros(2, 3, n_features))
            state = result[1]
            h = state[0] if isinstance(state, (tuple, list)) else state
            return int(h.shape[-2]) == 2
        except Exception as exc:  # noqa: BLE001 - no layer under that name, or another input size
            m = re.search(r"input_size\. Expected (\d+), got", str(exc))
            if not m:
                return None
            n_features = int(m.group(1))
    return None


def _layout_words(model, X: torch.Tensor, batch_dim: int, time_dim: int, items: str) -> str:
    """What the model's recurrent layer was told dim 0 of its input is, and what X holds in its dims."""
    told = _rnn_layout(model, X.shape[-1])
    holds = (f"X {describe(X)} holds the N = {X.shape[batch_dim]} {items} in dim {batch_dim} and the "
             f"T = {X.shape[time_dim]} time steps in dim {time_dim}.")
    if told is None:
        return " " + holds
    said = ("batch-first: it takes dim 0 of its input for the batch and dim 1 for time" if told else
            "time-first (the default): it takes dim 0 of its input for time and dim 1 for the batch")
    return f" Its recurrent layer was built {said}, and its output keeps that layout; {holds}"


def check_sequence_output(model, X: torch.Tensor, shape, *, what: str = "model(X)",
                          batch_dim: int = 0, time_dim: int | None = None,
                          items: str = "sequences") -> torch.Tensor:
    """model(X) must be a float tensor of exactly ``shape``, and leave X as it was; a wrong shape is
    described by the axis that is off. ``batch_dim`` is the axis of X that counts the sequences (1 for
    a time-first X (T, N, F)), ``time_dim`` the one that counts the steps (by default the other of dims
    0 and 1; 2 for windows (N, F, T)); ``items`` names the sequences in messages. The output is always
    batch-first."""
    mine = {"X": X.clone()}
    with _no_grad():
        out = call_sequence_model(model, mine, what=what)
    check_not_mutated(what, {"X": X}, mine)
    want = tuple(shape)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what} returned {describe(out)}; it must return scores {shape_str(want)}.",
                          "not-a-tensor")
    got = tuple(out.shape)
    if got != want:
        N = X.shape[batch_dim]
        time_dim = 1 - batch_dim if time_dim is None else time_dim
        T = X.shape[time_dim] if X.dim() > time_dim else None
        why = ""
        if len(got) < len(want) and N == 1:
            why = (" The batch dim of size N = 1 is gone: a dim was removed because its size happened to "
                   "be 1.")
        elif len(got) == len(want) and got[1:] == want[1:] and X.dim() >= 2 and got[0] == T != N:
            why = (f" Its dim 0 has {got[0]} rows, the number of time steps T of X, where one row per "
                   f"{items[:-1] if items.endswith('s') else items} (N = {N}) is wanted: somewhere the time "
                   "axis was taken for the batch axis." + _layout_words(model, X, batch_dim, time_dim, items))
        elif len(got) == len(want) and got[0] == N:
            why = (f" The batch dim is right; the other dims are {shape_str(got[1:])}, not "
                   f"{shape_str(want[1:])}.")
        elif len(got) != len(want):
            why = f" It has {len(got)} dims where {len(want)} are wanted."
        raise CheckFailed(f"{what} maps X {describe(X)} to {describe(out)}; it must give "
                          f"{shape_str(want)}.{why}", "output-shape")
    if not out.is_floating_point():
        raise CheckFailed(f"{what} maps X {describe(X)} to {describe(out)}; scores must be float.", "dtype")
    return out


def check_samples_independent(model, X: torch.Tensor, *, what: str = "model(X)", batch_dim: int = 0) -> None:
    """The same input twice gives the same output (nothing random, nothing carried over between
    calls), and changing sample 0 changes no other sample's output. ``batch_dim`` is the axis of X
    that counts the samples (1 for a time-first X); the output is batch-first."""
    if hasattr(model, "eval"):
        model.eval()
    with _no_grad():
        a = _require_tensor(call_sequence_model(model, {"X": X}, what=what), what)
        again = _require_tensor(call_sequence_model(model, {"X": X.clone()}, what=what), what)
        if not _gap(a, again) <= 1e-6:
            raise CheckFailed(f"{what} gave different outputs for the same X {describe(X)} twice (largest "
                              f"difference {_gap(a, again):.3g}): its output is not a function of its input "
                              "alone. Something in forward is random (an initial state?) or is carried over "
                              "from the previous call.", "not-deterministic")
        X2 = X.clone()
        first = X2.select(batch_dim, 0)               # sample 0, a view into X2
        if X.is_floating_point():
            first += 1.0
        else:                                         # token ids: other ids, still in 1..max
            first.copy_(first % int(X.max()) + 1)
        b = _require_tensor(call_sequence_model(model, {"X": X2}, what=what), what, shape=a.shape)
    N = X.shape[batch_dim]
    if a.dim() == 0 or a.shape[0] != N:
        raise CheckFailed(f"{what} gives {describe(a)} for X {describe(X)}: one row per sample expected "
                          f"(N = {N}).", "output-shape")
    gap = _gap(a[1:], b[1:])
    axis = "the batch axis" + (f" (dim {batch_dim} of X)" if batch_dim else "")
    if not gap <= 1e-6:
        raise CheckFailed(f"Changing sample 0 of X {describe(X)} changed the outputs of samples 1 to "
                          f"{N - 1} by up to {gap:.3g}: information flows from one sample to "
                          "another. A sample's scores must depend on that sample alone; a recurrent layer "
                          f"that steps along {axis} as if it were time, or a view that "
                          "regroups the numbers of different samples, does this.", "batch-mixing")


def check_zero_initial_state(model, X: torch.Tensor, *, what: str = "model(X)", atol: float = 1e-5) -> None:
    """The model's output equals what its own layers embed -> rnn -> head give from a zero initial
    state (a GRU called without a state starts from zeros): its initial state is zero, for this N."""
    if hasattr(model, "eval"):
        model.eval()
    with _no_grad():
        out = _require_tensor(call_sequence_model(model, {"X": X}, what=what), what)
        try:
            seq, _ = model.rnn(model.embed(X))            # (N, T, hidden), from zeros
            ref = model.head(seq)                         # (N, T, n_tags)
        except Exception as exc:  # noqa: BLE001 - layers renamed or changed
            raise CheckFailed(f"The check runs the model's own layers embed, rnn and head (the exercise "
                              f"keeps them under these names) from a zero initial state, and that failed: "
                              f"{type(exc).__name__}: {exc}", "layers-changed") from None
    gap = _gap(out, ref)
    if not gap <= atol:
        raise CheckFailed(f"{what} for X {describe(X)} differs by up to {gap:.3g} from what its own "
                          "layers give when the recurrent layer starts from a zero initial state: the "
                          "initial state it uses is not zero.", "nonzero-initial-state")


# ----------------------------------------------------------------------------- losses over tokens
_SOFTMAX_TWICE = ("Your value is exactly the loss of softmax over the classes applied to {x} first: the "
                  "scores were turned into probabilities before a loss that applies softmax itself, so it "
                  "is applied twice. Such a loss stalls at a floor and trains slowly.")
_SCRAMBLED = ("Your value is the loss of {x} regrouped into {shape} in memory order: a view or reshape "
              "moves no axis, it cuts the same run of numbers into new rows, so the V scores of {one} are "
              "no longer together.")


def _ce_tokens(logits, y, **kw):
    return F.cross_entropy(logits.permute(0, 2, 1), y, **kw)     # (N, V, T) with (N, T)


def _token_loss_hypotheses(args: dict, side: str = "right") -> list:
    """(tag, why, value) for mistakes whose exact value can be computed from a token loss's inputs."""
    logits, y, lengths = args["logits"].detach(), args["y"], args.get("lengths")
    N, T, V = logits.shape
    mask = padding_mask(lengths, T, side) if lengths is not None else y != -100    # (N, T) real tokens
    y_real = y.masked_fill(~mask, -100)
    hyps = [("softmax-before-loss", _SOFTMAX_TWICE.format(x="logits"),
             lambda: _ce_tokens(logits.softmax(-1), y_real))]
    if T != V:
        hyps.append(("reshape-scrambles",
                     _SCRAMBLED.format(x="logits", shape=f"(N, V, T) = {shape_str((N, V, T))}",
                                       one="a token"),
                     lambda: F.cross_entropy(logits.reshape(N, V, T), y_real)))
    hyps.append(("misaligned", ("Your value pairs the scores and the tags in different orders: the scores "
                                "were flattened time by time (all sequences' step 0, then step 1, ...) and "
                                "the tags sequence by sequence, so token t of sequence n is scored against "
                                "another token's tag."),
                 lambda: F.cross_entropy(logits.transpose(0, 1).reshape(-1, V), y_real.reshape(-1))))
    hyps.append(("per-sequence-sum", (f"Your value is the sum of the token losses divided by N = {N}: a "
                                      "loss per sequence, summed over its tokens, where the mean over the "
                                      "tokens is asked."),
                 lambda: _ce_tokens(logits, y_real, reduction="sum") / N))
    if lengths is None:
        return hyps
    losses = _ce_tokens(logits, y, reduction="none")                  # (N, T), the pads read as tags
    n_real = int(mask.sum())

    def masked_mean(m):
        return (losses * m).sum() / m.sum()

    if side == "left":
        steps = torch.arange(T)[None, :]
        hyps += [
            ("wrong-side-mask", ("Your value is the mean over the FIRST lengths[n] steps of each row. This "
                                 "batch is padded on the left: the real tokens of row n are its LAST "
                                 "lengths[n] steps, so the pads at the start are scored as tokens of tag 0 "
                                 "and real tokens at the end are left out."),
             lambda: masked_mean(padding_mask(lengths, T))),
            ("drops-real-tokens", "Your value leaves out one real token of every row.",
             lambda: masked_mean(steps > (T - lengths)[:, None])),
            ("counts-padding", ("Your value counts one pad step too many in each shorter row: the real "
                                "tokens of row n are positions T - lengths[n] to T - 1, and position "
                                "T - lengths[n] - 1 is a pad."),
             lambda: masked_mean(steps >= (T - lengths - 1)[:, None])),
        ]
    one_more = torch.arange(T)[None, :] <= lengths[:, None]         # (N, T) real tokens and one pad
    return hyps + [
        ("counts-padding", (f"Your value is the sum of the real tokens' losses divided by N·T = {N * T}, "
                            f"every step of the padded grid, where there are {n_real} real tokens: the pads "
                            "count in the mean, so more padding lowers the loss."),
         lambda: (losses * mask).sum() / (N * T)),
        ("counts-padding", ("Your value is the mean over all N·T steps with each pad scored as a token of "
                            "tag 0: the pads are counted as real tokens."), lambda: losses.mean()),
        ("per-sequence-mean", ("Your value is the mean of the sequences' mean losses: a token of a short "
                               "sequence weighs more than a token of a long one. The mean is over the real "
                               "tokens, each counted once."),
         lambda: ((losses * mask).sum(1) / lengths).mean()),
        ("drops-real-tokens", ("Your value leaves out every token whose tag is 0, real ones included: the "
                               "pads were found by their value, and real tokens share it. The lengths say "
                               "which steps are pads."), lambda: _ce_tokens(logits, y, ignore_index=0)),
    ] + ([] if side == "left" else [
        ("counts-padding", ("Your value counts one pad step too many in each shorter sequence: the real "
                            "tokens of row n are its first lengths[n] steps, positions 0 to "
                            "lengths[n] - 1."),
         lambda: (losses * one_more).sum() / one_more.sum()),
    ])


def _matching(hyps: list, got: float, atol: float):
    for tag, why, value in hyps:
        try:
            with _no_grad(), strict():
                v = float(value())
        except Exception:  # noqa: BLE001 - a hypothesis that does not apply to these inputs
            continue
        if abs(v - got) <= atol:
            return tag, why
    return None


def check_token_loss(fn, reference, args: dict, *, loss=None, grad_of: str | None = "logits",
                     atol: float = 1e-5, label: str = "", side: str = "right") -> None:
    """checks.check_loss for a loss over tokens, logits (N, T, V) with y (N, T) (and lengths (N,)).

    On a wrong value it also says which token-level mistake gives exactly that value: pads counted, a
    mean per sequence, real 0-tags dropped, a reshape that scrambles the scores, scores and tags
    flattened in different orders, softmax applied twice.
    """
    from .core import check_loss

    try:
        check_loss(fn, reference, args, loss=loss, grad_of=grad_of, atol=atol, label=label)
    except CheckFailed as failure:
        if failure.tag not in ("wrong-value", "reduction", "constant"):
            raise
        try:
            with _no_grad(), strict():
                got = fn(*{k: v.clone() for k, v in args.items()}.values())
        except Exception:  # noqa: BLE001 - the first failure stands as it is
            raise failure from None
        found = _matching(_token_loss_hypotheses(args, side), float(got.detach()), atol) \
            if isinstance(got, torch.Tensor) and got.numel() == 1 else None
        if found is None:
            raise
        first = str(failure).split("\n", 1)[0]
        raise CheckFailed(f"{first}\n{found[1]}", found[0]) from None


def _number(value, what: str) -> float:
    """A Python number or a one-element tensor as a float; anything else fails the check."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CheckFailed(f"{what} should return a single number; it returned {describe(value)}.",
                      "not-a-number")


def check_padding_invariance(fn, args: dict, *, scores: str = "logits", target: str = "y",
                             pad_value: int = -100, extra: int = 3, seed: int = 0,
                             atol: float = 1e-5, side: str = "right") -> None:
    """More padding must not change a loss or metric over the real tokens.

    Adds ``extra`` pad steps to args[target] (value pad_value) and random scores to args[scores]
    along dim 1, at the end (side "right") or at the start ("left"); every other argument
    (lengths, ...) is passed unchanged.
    """
    what = getattr(fn, "__name__", "your function")
    a = _number(call_sequence_model(fn, args, what=what), what)
    x, y = args[scores], args[target]
    g = torch.Generator().manual_seed(seed)
    more = dict(args)
    noise = 5 * torch.randn((x.shape[0], extra, *x.shape[2:]), generator=g)
    pads = torch.full((y.shape[0], extra), pad_value, dtype=y.dtype)
    more[scores] = torch.cat([x, noise] if side == "right" else [noise, x], dim=1)
    more[target] = torch.cat([y, pads] if side == "right" else [pads, y], dim=1)
    b = _number(call_sequence_model(fn, more, what=f"{what} with {extra} more pad steps"), what)
    if not abs(a - b) <= atol:
        where = "at the end" if side == "right" else "at the start"
        raise CheckFailed(f"{what} gave {a:.6f} for {target} {describe(y)}; with {extra} more pad steps "
                          f"{where} of every row ({target} {describe(more[target])}, the same real tokens) "
                          "it gave "
                          f"{b:.6f}. The pads change the result, so they are counted: a result over the "
                          "real tokens cannot depend on how much padding the batch has.", "counts-padding")


def check_token_metric(fn, want, args: dict, *, what: str | None = None, atol: float = 1e-6) -> float:
    """A metric over the real tokens (y != -100) of logits (N, T, V): a Python float equal to ``want``
    (a number, or a function of the args), leaving its arguments unchanged. A wrong value is matched
    against the mistakes that give exactly it (pads counted as misses or as tag 0, a mean per
    sequence, real 0-tags dropped, a percentage)."""
    what = what or f"{getattr(fn, '__name__', 'your function')}({', '.join(args)})"
    mine = {k: v.clone() for k, v in args.items()}
    got = call_sequence_model(fn, mine, what=what)
    check_not_mutated(what, args, mine)
    if isinstance(got, torch.Tensor):
        raise CheckFailed(f"{what} returned a tensor, {describe(got)}; the exercise asks for a Python "
                          "float.", "not-a-float")
    if not isinstance(got, float):
        raise CheckFailed(f"{what} returned {describe(got).replace(', not a tensor', '')}; the exercise "
                          "asks for a Python float.", "not-a-float")
    value = float(want(*args.values()) if callable(want) else want)
    if abs(got - value) <= atol:
        return got
    logits, y = args["logits"].detach(), args["y"]
    pred = logits.argmax(-1)                                     # (N, T)
    real = y != -100                                             # (N, T)
    n_real = int(real.sum())
    hyps = [
        ("counts-padding", (f"That is the hits divided by all N·T = {y.numel()} steps of the padded grid, "
                            f"where there are {n_real} real tokens: every pad is counted as a miss."),
         lambda: (pred == y).float().mean()),
        ("counts-padding", ("That is the score of a grid whose pads are read as tag 0: a prediction of 0 on "
                            "a pad counts as a hit, any other as a miss."),
         lambda: (pred == y.clamp(min=0)).float().mean()),
        ("per-sequence-mean", ("That is the mean of the sequences' accuracies: a token of a short sequence "
                               "weighs more than a token of a long one. The fraction is over the real "
                               "tokens, each counted once."),
         lambda: (((pred == y) & real).sum(1) / real.sum(1)).mean()),
        ("drops-real-tokens", ("That leaves out the real tokens whose tag is 0 and keeps the pads (-100) "
                               "as misses: the tokens were told apart by the value 0, which is a real tag "
                               "here."),
         lambda: (pred[y != 0] == y[y != 0]).float().mean()),
        ("percentage", "That is the fraction times 100: the exercise asks for a fraction in [0, 1].",
         lambda: torch.tensor(100 * value)),
    ]
    found = _matching(hyps, got, 1e-5)
    raise CheckFailed(f"{what} returned {got:.4f} for logits {describe(logits)} and y {describe(y)}, but "
                      f"the fraction of its {n_real} real tokens that are right is {value:.4f}."
                      + (f"\n{found[1]}" if found else ""), found[0] if found else "wrong-value")


def check_trains_tokens(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, test=None, steps: int = 100,
                        lr: float = 0.03, min_accuracy: float = 0.95, ignore_index: int = -100,
                        seed: int = 0, time_first: bool = False, id_column: int | None = None) -> dict:
    """Train model with Adam on (X, y); scores have the classes in the LAST dim: (N, C) or (N, T, V),
    or (T, N, C) from a time-first model (``time_first``) whose targets are (N, T).

    The accuracy counts real targets only (y != ignore_index), on ``test`` = (X_test, y_test) if given
    (a model that mixes samples can memorise its training batch), else on a held-out third of (X, y).
    ``id_column``: the column of a float X (N, T, K) that holds ids (names, not amounts); a model that
    does not learn is then also asked whether it reads that column as an amount.
    """
    if test is None:                                   # hold out a third of the samples
        train, held_out = held_out_split(X.shape[0], seed)
        X, y, test = X[train], y[train], (X[held_out], y[held_out])
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    Xe, ye = test
    with _no_grad():
        model.eval()
        out = _require_tensor(call_sequence_model(model, {"X": Xe}, what="model(X)"), "model(X)")
    if time_first and out.dim() == 3:
        out = out.transpose(0, 1)                       # (N, T, C): scored against the (N, T) targets
    if tuple(out.shape[:-1]) != tuple(ye.shape):
        raise CheckFailed(f"model(X) gives {describe(out)} for X {describe(Xe)}; expected the classes in "
                          f"the last dim after {shape_str(ye.shape)}.", "output-shape")
    real = ye != ignore_index
    acc = float((out.argmax(-1)[real] == ye[real]).float().mean())
    if not acc >= min_accuracy:
        tag, why = "does-not-learn", ""
        if id_column is not None:
            found = _ids_read_as_amounts(model, Xe, out, id_column)
            if found:
                tag, why = "ids-as-amounts", "\n" + found
        raise CheckFailed(f"After {steps} training steps the accuracy on held-out data is {acc:.3f}; it "
                          f"should reach {min_accuracy:.2f} on this easy task (final training loss "
                          f"{value:.4f}).{why}", tag)
    return {"accuracy": acc, "loss": value}


def _ids_read_as_amounts(model, X: torch.Tensor, out: torch.Tensor, column: int) -> str:
    """A diagnosis when model(X) changes as the id column of X moves by a quarter, which names no id
    (a lookup by id, after a cast to int64, gives the same scores): the ids reach the model as amounts."""
    moved = X.clone()
    moved[..., column] += 0.25
    with _no_grad():
        try:
            again = call_sequence_model(model, {"X": moved}, what="model(X)")
        except CheckFailed:
            return ""
    if not isinstance(again, torch.Tensor) or again.shape != out.shape or _gap(again, out) <= 1e-6:
        return ""
    return (f"The code reads the id column as an amount: the model gets X {describe(X)}, floats with the ids "
            f"as values in column {column}, and its scores change (by up to {_gap(again, out):.3g}) when every "
            "id moves by 0.25, which names no id. To such a model id 7 is 'more' than id 6 and almost the "
            "same input, so a level that belongs to each id, unrelated to the size of its number, cannot be "
            "learned from it.")


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


# ----------------------------------------------------------------------------- encoder-decoder losses
def greedy_decode(model, src: torch.Tensor, steps: int, bos: int = 1) -> torch.Tensor:
    """Decode ``steps`` tokens from BOS with an encode/decode model, feeding back its own argmax:
    (N, steps)."""
    with _no_grad():
        _, state = model.encode(src)
        ys = torch.full((src.shape[0], 1), bos, dtype=torch.long)          # (N, 1)
        for _ in range(steps):
            nxt = model.decode(ys, state)[:, -1].argmax(-1, keepdim=True)  # (N, 1)
            ys = torch.cat([ys, nxt], dim=1)
    return ys[:, 1:]


def _rows_of(count: int, what: str, N: int, S: int, T: int) -> str:
    """What ``count`` rows of a flattened (N, length) batch correspond to, in the exercise's terms."""
    for n, words in ((N * S, f"N·S = {N}·{S}: one per source step"),
                     (N * T, f"N·T = {N}·{T}: one per target token"),
                     (N * (T - 1), f"N·(T-1) = {N}·{T - 1}: one per target token after the first"),
                     (N * (S - 1), f"N·(S-1) = {N}·{S - 1}: one per source step but one")):
        if count == n:
            return f"{count} {what} ({words})"
    return f"{count} {what}"


_BATCH_SIZES = r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)"
_TARGET_SIZE = r"Expected target size \[(\d+), (\d+)\], got \[(\d+), (\d+)\]"


def _call_model_loss(fn, model, args: dict, what: str):
    """fn(model, *args) with its errors explained; a row-count mismatch names the two lengths."""
    try:
        with strict():
            return fn(model, *args.values())
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's bug: explain it
        text = str(exc).strip()
        src, tgt = args.get("src"), args.get("tgt")
        pair = (isinstance(src, torch.Tensor) and isinstance(tgt, torch.Tensor)
                and src.dim() == tgt.dim() == 2)
        rows = re.search(_BATCH_SIZES, text)
        steps = re.search(_TARGET_SIZE, text)
        negative = [(k, v) for k, v in args.items() if isinstance(v, torch.Tensor)
                    and not v.is_floating_point() and v.numel() and int(v.min()) < 0]
        if "index out of range in self" in text and negative:
            k, v = negative[0]
            tag, why = "pad-into-embedding", (
                f"{k} {describe(v)} holds the pad value {int(v.min())} at its padded steps, and an embedding "
                "looks up one row per id, rows 0 to (its size - 1): a negative id is no row. Somewhere the "
                f"model was handed ids taken from {k} with their pads still in them. The pad value means "
                "something to the loss, which skips it; a lookup table has no row for it.")
        elif rows and pair:
            n_rows, n_ids = int(rows.group(1)), int(rows.group(2))
            N, S, T = src.shape[0], src.shape[1], tgt.shape[1]
            tag, why = "source-target-length", (
                f"The scores have {_rows_of(n_rows, 'rows', N, S, T)}, and the target has "
                f"{_rows_of(n_ids, 'ids', N, S, T)}. The source has S = {S} steps and the target T = {T} "
                "tokens: the lengths differ, so scores made one per source step cannot be paired with the "
                "target's tokens.")
        elif steps and pair and int(steps.group(2)) != int(steps.group(4)):
            tag, why = "steps-mismatch", (
                "The loss reads the classes from dim 1 of the scores and pairs each remaining position with "
                f"a target id: the scores it got have {steps.group(2)} positions in their last dim, and the "
                f"target has {steps.group(4)} ids per row (tgt {describe(tgt)}, T = {tgt.shape[1]}). The "
                "two do not count the same steps.")
        else:
            tag, why = _explain_rnn_error(exc, args)
            why = why.split("\n", 1)[1] if "\n" in why else ""
        raise CheckFailed(f"{what} raised an error when called with {_args_text(args)}:\n"
                          f"{type(exc).__name__}: {text}" + (f"\n{why}" if why else ""), tag) from None


def _seq2seq_hypotheses(model, src: torch.Tensor, tgt: torch.Tensor) -> list:
    """(tag, why, value) for encoder-decoder losses whose exact value can be computed from the model.
    A target padded with -100 is read by the decoder with its pads as id 0 (any id gives the same loss
    over the real tokens)."""
    def ids(t):
        return t.masked_fill(t < 0, 0)                                  # pads as a valid id

    def teacher(x_in, target, squash=False, state="encoder"):
        _, st = model.encode(src)
        logits = model.decode(ids(x_in), st if state == "encoder" else torch.zeros_like(st))
        return _ce_tokens(logits.softmax(-1) if squash else logits, target)

    def per_sequence():
        _, st = model.encode(src)
        losses = _ce_tokens(model.decode(ids(tgt[:, :-1]), st), tgt[:, 1:], reduction="none")   # (N, T-1)
        real = tgt[:, 1:] != -100
        return ((losses * real).sum(1) / real.sum(1)).mean()

    def encoder_rows(first: int):
        out, _ = model.encode(src)
        logits = model.head(out)[:, :tgt.shape[1] - first]              # (N, min(S, T - first), V)
        return _ce_tokens(logits, tgt[:, first:first + logits.shape[1]])

    def scrambled():
        _, st = model.encode(src)
        logits = model.decode(ids(tgt[:, :-1]), st)                     # (N, T-1, V)
        N, L, V = logits.shape
        return F.cross_entropy(logits.reshape(N, V, L), tgt[:, 1:])

    padded = bool((tgt < 0).any())
    pads = [
        ("counts-padding", ("Your value counts the target's pads as tokens of id 0: the pad value -100 was "
                            "replaced in the target the loss scores, not only in what the decoder reads, so "
                            "every pad is trained and averaged as a real token."),
         lambda: teacher(tgt[:, :-1], ids(tgt[:, 1:]))),
        ("per-sequence-mean", ("Your value is the mean of the sequences' mean losses: a token of a short "
                               "target weighs more than a token of a long one. The mean is over the real "
                               "target tokens, each counted once."), per_sequence),
    ] if padded else []

    encoder = ("Your value scores the encoder's outputs, one row per SOURCE step, against the target "
               "tokens{after} step by step: source step j is not the place that predicts target token {j}.")
    return pads + [
        ("reshape-scrambles", _SCRAMBLED.format(x="the decoder's scores", shape="(N, V, T-1)", one="a step"),
         scrambled),
        ("no-shift", ("Your value is the loss of a decoder that reads the whole target and is scored, at "
                      "each step, against the token it has just read: it can copy its input. With teacher "
                      "forcing, step t reads the tokens up to t and is scored against token t + 1."),
         lambda: teacher(tgt, tgt)),
        ("shift-reversed", ("Your value is the loss of a decoder that reads the target without its first "
                            "token and is scored against the target without its last: each step is asked "
                            "for the token BEFORE the one it reads."),
         lambda: teacher(tgt[:, 1:], tgt[:, :-1])),
        ("softmax-before-loss", _SOFTMAX_TWICE.format(x="the decoder's scores"),
         lambda: teacher(tgt[:, :-1], tgt[:, 1:], squash=True)),
        ("source-ignored", ("Your value is the loss of the decoder started from a zero state: the source "
                            "never reaches it, so it cannot depend on the input sequence."),
         lambda: teacher(tgt[:, :-1], tgt[:, 1:], state="zeros")),
        ("encoder-rows", encoder.format(after="", j="j"), lambda: encoder_rows(0)),
        ("encoder-rows", encoder.format(after=" after BOS", j="j + 1"), lambda: encoder_rows(1)),
    ]


def check_model_loss(fn, reference, model, args: dict, *, atol: float = 1e-5, label: str = "",
                     time_first: bool = False) -> None:
    """fn(model, *args) must equal reference(model, *args) in value and in the gradient of every
    parameter, and leave its arguments unchanged. ``time_first``: a language model's x is (T, N)."""
    what = f"{getattr(fn, '__name__', 'your function')}(model, {', '.join(args)}){label}"
    params = [p for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    mine = {k: v.clone() for k, v in args.items()}
    out = _require_tensor(_call_model_loss(fn, model, mine, what), what, shape=())
    check_not_mutated(what, args, mine)
    with strict():
        expected = reference(model, *args.values())
    gap = _gap(out, expected)
    if not gap <= atol:
        hyps = _seq2seq_hypotheses(model, *args.values()) if set(args) == {"src", "tgt"} else \
            _lm_hypotheses(model, *args.values(), time_first=time_first) if set(args) == {"x"} else []
        found = _matching(hyps, float(out.detach()), atol)
        how = "one decoder step at a time" if "src" in args else "one prefix at a time"
        raise CheckFailed(f"{what} returned {float(out.detach()):.6f}, but the loss computed {how} "
                          f"is {float(expected.detach()):.6f} (inputs: {_args_text(args)})."
                          + (f"\n{found[1]}" if found else ""), found[0] if found else "wrong-value")
    if not isinstance(expected, torch.Tensor) or not expected.requires_grad:
        return                                                # a recorded answer: the value is the check
    if not out.requires_grad:
        raise CheckFailed(f"{what} returned a loss that does not depend on the model's parameters, "
                          "so nothing would learn.", "no-gradient")
    mine_g = torch.autograd.grad(out, params, allow_unused=True)
    theirs = torch.autograd.grad(expected, params, allow_unused=True)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for name, a, b in zip(names, mine_g, theirs):
        a = torch.zeros_like(b) if a is None and b is not None else a
        b = torch.zeros_like(a) if b is None and a is not None else b
        if a is not None and not _gap(a, b) <= 10 * atol:
            raise CheckFailed(f"{what}: the value is right, but the gradient of {name} differs from the "
                              f"reference (largest difference {_gap(a, b):.3g}), so training would follow "
                              "the wrong signal.", "wrong-gradient")


def _train_on_batches(fn, model, batches: list, *, steps: int, lr: float, seed: int, what: str) -> float:
    """Adam on fn(model, **batch), one batch per step (cycled); the final training loss. The model ends in eval mode."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    value = float("nan")
    for step in range(steps):
        opt.zero_grad()
        loss = _require_tensor(_call_model_loss(fn, model, batches[step % len(batches)], what), what, shape=())
        if not loss.requires_grad:
            raise CheckFailed(f"{what} returned a loss that does not depend on the model's parameters, "
                              "so nothing would learn.", "no-gradient")
        loss.backward()
        opt.step()
        value = float(loss.detach())
    model.eval()
    return value


def check_seq2seq_trains(fn, model, train, test: tuple, *, steps: int = 80, lr: float = 0.03,
                         min_accuracy: float = 0.9, bos: int = 1, seed: int = 0) -> float:
    """Train ``model`` with Adam on fn(model, src, tgt), one batch per step from ``train`` (a list of
    (src, tgt) batches, cycled; or one batch); then greedy decoding from BOS of the held-out ``test``
    sources must get min_accuracy of the target tokens right."""
    batches = [train] if isinstance(train, tuple) else list(train)
    name = getattr(fn, "__name__", "your function")
    what = f"{name}(model, src, tgt)"
    value = _train_on_batches(fn, model, [{"src": src, "tgt": tgt} for src, tgt in batches], steps=steps, lr=lr,
                              seed=seed, what=what)
    src_test, tgt_test = test
    decoded = greedy_decode(model, src_test, tgt_test.shape[1] - 1, bos=bos)       # (N, T-1)
    acc = float((decoded == tgt_test[:, 1:]).float().mean())
    if not acc >= min_accuracy:
        raise CheckFailed(f"After {steps} training steps with {name}, greedy decoding of held-out sources "
                          f"gets {acc:.3f} of the target tokens right; it should reach {min_accuracy:.2f} "
                          f"on this easy task (final training loss {value:.4f}).", "does-not-learn")
    return acc


def padded_reversal_data(N: int, S: int, K: int, V: int, seed: int = 0, bos: int = 1, pad: int = -100):
    """reversal_data with targets of different lengths: src (N, S) ids in 2..V-1, tgt (N, K + 1) =
    [bos, the first 1 to K of the last K source tokens reversed], padded with ``pad`` after its last
    real token (row 0, when N >= 2, is full length). Id 0 is never a real token."""
    src, tgt = reversal_data(N, S, K, V, seed=seed, bos=bos)
    g = torch.Generator().manual_seed(10_000 + seed)
    n_real = torch.randint(1, K + 1, (N,), generator=g)             # (N,) target tokens after BOS
    if N >= 2:
        n_real[0] = K
    return src, tgt.masked_fill(~padding_mask(n_real + 1, K + 1), pad)


def seq2seq_batch(N: int, S: int, T: int, V: int, seed: int = 0, bos: int = 1, pad: int = -100):
    """Random sources src (N, S) and targets tgt (N, T) of ids in 2..V-1 after BOS, for a loss check (no task
    behind them): row n of tgt holds BOS and 1 to T - 1 real tokens, then ``pad`` (row 0 is full length)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(2, V, (N, S), generator=g)                     # (N, S)
    tgt = torch.cat([torch.full((N, 1), bos), torch.randint(2, V, (N, T - 1), generator=g)], dim=1)  # (N, T)
    n_real = torch.randint(2, T + 1, (N,), generator=g)               # (N,) BOS and at least one token
    n_real[0] = T
    return src, tgt.masked_fill(~padding_mask(n_real, T), pad)


# ----------------------------------------------------------------------------- frames of a time-first model
_CENTRES_SEED = 1234


def frame_batch(N: int, T: int, C: int, seed: int = 0):
    """Log-probabilities (T, N, C) of a time-first model (log_softmax over C) and frame labels y (N, T),
    batch-first, as a dataset gives them."""
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn((T, N, C), generator=g).log_softmax(-1)   # (T, N, C)
    y = torch.randint(0, C, (N, T), generator=g)                      # (N, T)
    return log_probs, y


def confident_frames(y: torch.Tensor, C: int) -> torch.Tensor:
    """Log-probabilities (T, N, C) of a time-first model that is sure, and right, on every frame: frame t of
    sequence n puts almost all its probability on y[n, t] (y (N, T), batch-first)."""
    N, T = y.shape
    log_probs = torch.full((T, N, C), -10.0)                          # (T, N, C)
    for n in range(N):
        for t in range(T):
            log_probs[t, n, int(y[n, t])] = 0.0
    return log_probs.log_softmax(dim=-1)


def frame_data(N: int, T: int, C: int, n_features: int = 6, seed: int = 0):
    """Frames X (T, N, F), time-first, and labels y (N, T), batch-first: frame t of sequence n is a noisy
    copy of the centre of its class y[n, t] (the same C centres for every seed)."""
    centres = 2.0 * torch.randn((C, n_features), generator=torch.Generator().manual_seed(_CENTRES_SEED + C))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, C, (N, T), generator=g)                      # (N, T)
    X = centres[y.T] + 0.7 * torch.randn((T, N, n_features), generator=g)   # (T, N, F)
    return X, y


class _FrameTagger(nn.Module):
    """Frames X (T, N, F), time-first -> log-probabilities (T, N, C): a GRU, a Linear, log_softmax."""

    def __init__(self, n_features: int, C: int, hidden: int = 32):
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden)
        self.head = nn.Linear(hidden, C)

    def forward(self, X):
        out, _ = self.rnn(X)                                       # (T, N, hidden)
        return self.head(out).log_softmax(dim=-1)                  # (T, N, C)


def tiny_frame_tagger(n_features: int, C: int, seed: int = 0, hidden: int = 32):
    """A small, known-good time-first model for checks that train a student's frame loss."""
    torch.manual_seed(seed)
    return _FrameTagger(n_features, C, hidden)


def _frame_loss_hypotheses(args: dict) -> list:
    """(tag, why, value) for frame losses whose value can be computed from log_probs (T, N, C), y (N, T)."""
    lp, y = args["log_probs"].detach(), args["y"]
    T, N, C = lp.shape
    nll = F.nll_loss
    regrouped = ("Your value is the loss of log_probs regrouped into {shape} in memory order: a view or "
                 "reshape moves no axis, it cuts the same run of numbers into new rows, so {what}.")
    return [
        ("misaligned", ("Your value pairs the log-probabilities and the labels in different orders: "
                        "log_probs is time-first, so flattened it lists frame 0 of every sequence, then "
                        "frame 1, ...; y is batch-first, so flattened it lists all frames of sequence 0, "
                        "then sequence 1, ... Frame t of sequence n is scored against another frame's "
                        "label. A view or reshape of log_probs to (N, T, C) before flattening keeps this same "
                        "memory order: it cuts the same run of numbers into other rows and moves no frame."),
         lambda: nll(lp.reshape(-1, C), y.reshape(-1))),
        ("reshape-scrambles", regrouped.format(shape=f"(N, C, T) = {shape_str((N, C, T))}",
                                               what="a frame's log-probabilities are no longer together"),
         lambda: nll(lp.reshape(N, C, T), y)),
        ("reshape-scrambles", regrouped.format(shape=f"(N, T, C) = {shape_str((N, T, C))}",
                                               what="row n no longer holds the frames of sequence n"),
         lambda: nll(lp.reshape(N, T, C).permute(0, 2, 1), y)),
        ("reshape-scrambles", ("Your value pairs log_probs laid out time-first with y regrouped into (T, N) "
                               "in memory order: a reshape of the labels cuts each sequence's labels into "
                               "new rows, it does not swap the axes, so a frame is scored against another "
                               "frame's label."),
         lambda: nll(lp.permute(0, 2, 1), y.reshape(T, N))),
        ("per-sequence-sum", (f"Your value is the sum of the frame losses divided by N = {N}: a loss per "
                              "sequence, summed over its frames, where the mean over all frames is asked."),
         lambda: nll(lp.permute(1, 2, 0), y, reduction="sum") / N),
        ("probabilities", ("Your value is the loss of exp(log_probs): probabilities were handed to a loss "
                           "that wants log-probabilities."), lambda: nll(lp.exp().permute(1, 2, 0), y)),
    ]


def check_frame_loss(fn, reference, args: dict, *, atol: float = 1e-5, label: str = "") -> None:
    """checks.check_loss for a loss over frames: log_probs (T, N, C) time-first, y (N, T) batch-first.

    On a wrong value it says which mistake gives exactly that value: the two flattened in different
    orders, a view or reshape that regroups either side, a sum per sequence, probabilities.
    """
    from .core import check_loss

    try:
        check_loss(fn, reference, args, loss="NLLLoss", grad_of=None, atol=atol, label=label)
    except CheckFailed as failure:
        if failure.tag not in ("wrong-value", "reduction", "constant", "negative-loss"):
            raise
        try:
            with _no_grad(), strict():
                got = fn(*{k: v.clone() for k, v in args.items()}.values())
        except Exception:  # noqa: BLE001 - the first failure stands as it is
            raise failure from None
        found = _matching(_frame_loss_hypotheses(args), float(got.detach()), atol) \
            if isinstance(got, torch.Tensor) and got.numel() == 1 else None
        if found is None:
            raise
        first = str(failure).split("\n", 1)[0]
        raise CheckFailed(f"{first}\n{found[1]}", found[0]) from None


# ----------------------------------------------------------------------------- a pooled sentence vector
def padded_sentences(N: int, T: int, n_tokens: int, seed: int = 0, min_length: int = 1):
    """Token ids X (N, T) in 1..n_tokens-1, right-padded with 0 after lengths[n] real tokens, and
    lengths (N,) int64 (row 0 is full length when N >= 2)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(1, n_tokens, (N, T), generator=g)               # (N, T)
    lengths = torch.randint(min_length, T + 1, (N,), generator=g)     # (N,)
    if N >= 2:
        lengths[0] = T
    return X.masked_fill(~padding_mask(lengths, T), 0), lengths


def _layers_failed(exc: BaseException, layers: str) -> CheckFailed:
    return CheckFailed(f"The check runs the model's own layers {layers} (the exercise keeps them under these "
                       f"names), and that failed: {type(exc).__name__}: {exc}", "layers-changed")


def check_pooled_classifier(model, X: torch.Tensor, lengths: torch.Tensor, n_classes: int, *,
                            what: str = "model(X, lengths)", extra: int = 3,
                            atol: float = 1e-5) -> torch.Tensor:
    """model(X, lengths) must give (N, n_classes), and row n must be what the model's own layers give for
    sentence n alone, without its padding: head(mean over its lengths[n] steps of rnn(embed(...)))."""
    if hasattr(model, "eval"):
        model.eval()
    N, T = X.shape
    args = {"X": X.clone(), "lengths": lengths.clone()}
    with _no_grad():
        out = call_sequence_model(model, args, what=what)
    check_not_mutated(what, {"X": X, "lengths": lengths}, args)
    want = (N, n_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want or not out.is_floating_point():
        extra_words = (" The batch dim of size N = 1 is gone." if isinstance(out, torch.Tensor) and N == 1
                       and out.dim() < 2 else "")
        raise CheckFailed(f"{what} maps X {describe(X)} to {describe(out)}; it must give float scores "
                          f"{shape_str(want)}, one row per sentence.{extra_words}", "output-shape")
    with _no_grad():
        try:
            rows = []
            for n in range(N):
                seq, _ = model.rnn(model.embed(X[n:n + 1, :int(lengths[n])]))   # (1, L, hidden): alone
                rows.append(model.head(seq.mean(dim=1)))                        # (1, n_classes)
            ref = torch.cat(rows)                                              # (N, n_classes)
            full, _ = model.rnn(model.embed(X))                                # (N, T, hidden), pads read too
        except Exception as exc:  # noqa: BLE001 - layers renamed or changed
            raise _layers_failed(exc, "embed, rnn and head") from None
    per_row = [_gap(out[n], ref[n]) for n in range(N)]
    if not max(per_row) <= atol:
        n = max(range(N), key=lambda i: per_row[i])
        L = int(lengths[n])
        real = padding_mask(lengths, T).unsqueeze(-1)                          # (N, T, 1)
        hyps = [
            ("counts-padding", f"They are the scores of the mean over all T = {T} steps of the padded row: "
                               f"its {T - L} pad steps are averaged in with its {L} real ones.",
             lambda: model.head(full.mean(dim=1))),
            ("state-after-padding", f"They are the scores of the output at the last step, T - 1 = {T - 1}: "
                                    "for a sentence shorter than T that is the state after reading its pads, "
                                    "and in any case it is one step, not the mean over the sentence.",
             lambda: model.head(full[:, -1])),
            ("counts-padding", f"They are the scores of the sum over the real steps divided by T = {T}, the "
                               f"padded length, where the sentence has {L} real steps.",
             lambda: model.head((full * real).sum(dim=1) / T)),
            ("batch-count", "They are the scores of the sum over the real steps divided by the number of "
                            f"real tokens in the whole batch ({int(lengths.sum())}), not in this "
                            f"sentence ({L}).",
             lambda: model.head((full * real).sum(dim=1) / real.sum())),
            ("counts-padding", "They are the scores of the mean over the first max(lengths) steps: that cuts "
                               "the padding that no row needs, and keeps the pads of every shorter sentence.",
             lambda: model.head(full[:, :int(lengths.max())].mean(dim=1))),
        ]
        found = None
        for tag, why, value in hyps:
            try:
                with _no_grad():
                    v = value()
            except Exception:  # noqa: BLE001 - a hypothesis that does not apply here
                continue
            if tuple(v.shape) == want and _gap(v[n], out[n]) <= atol:
                found = (tag, why)
                break
        raise CheckFailed(f"{what}: sentence {n} ({L} real tokens of T = {T}; X {describe(X)}) gets scores "
                          f"that differ by up to {per_row[n]:.3g} from what the model's own layers give for "
                          f"that sentence alone, without padding: embed, rnn, the mean over its {L} steps, "
                          "head."
                          + (f"\n{found[1]}" if found else ""), found[0] if found else "wrong-value")
    more = torch.cat([X, torch.zeros((N, extra), dtype=X.dtype)], dim=1)       # (N, T + extra) more pads
    with _no_grad():
        again = call_sequence_model(model, {"X": more, "lengths": lengths.clone()}, what=what)
    gap = _gap(again, out)
    if not gap <= atol:
        raise CheckFailed(f"{what}: with {extra} more pad steps at the end of every row (X {describe(more)}, "
                          f"the same sentences and lengths) the scores change by up to {gap:.3g}. A "
                          "sentence's scores cannot depend on how much padding its batch has.",
                          "counts-padding")
    return out


# ----------------------------------------------------------------------------- windows stored channels first
def motion_windows(N: int, T: int, n_features: int = 3, seed: int = 0):
    """Sensor windows X (N, F, T), channels first as a 1-d convolution stores them, and one label per window
    y (N,): 1 where channel 0, summed over the window, is positive (sign_of_sum_data, channels first)."""
    X, y = sign_of_sum_data(N, T, n_features, seed=seed)           # (N, T, F), (N,)
    return X.transpose(1, 2).contiguous(), y                      # (N, F, T), (N,)


def check_window_classifier(model, X: torch.Tensor, n_classes: int = 2, *, what: str = "model(X)",
                            atol: float = 1e-5) -> torch.Tensor:
    """Windows X (N, F, T), channels first. model(X) must give float scores (N, n_classes), and row n must be
    what the model's own layers give for window n alone, read in time order: ``model.rnn`` over its T steps
    of F readings (in the layer's own layout, batch-first or time-first), then ``model.head`` on the output
    at the last step."""
    N, n_features, T = X.shape
    out = check_sequence_output(model, X, (N, n_classes), what=what, batch_dim=0, time_dim=2, items="windows")
    if hasattr(model, "eval"):
        model.eval()
    with _no_grad():
        try:
            batch_first = _rnn_layout(model, n_features)
            if batch_first is None:
                raise CheckFailed("the layer rnn did not run on zeros (2, 3, F)", "layers-changed")

            def scores(steps):                                  # (T, F) of one window -> (1, n_classes)
                seq = model.rnn(steps[None] if batch_first else steps[:, None])[0]
                return model.head(seq[:, -1] if batch_first else seq[-1])

            ref = torch.cat([scores(X[n].T) for n in range(N)])                       # (N, n_classes)
        except Exception as exc:  # noqa: BLE001 - layers renamed or changed
            raise _layers_failed(exc, "rnn and head") from None
    per_row = [_gap(out[n], ref[n]) for n in range(N)]
    if max(per_row) <= atol:
        return out
    n = max(range(N), key=lambda i: per_row[i])
    tag, why = "wrong-value", ""
    with _no_grad():
        try:
            regrouped = torch.cat([scores(X[k].reshape(T, n_features)) for k in range(N)])
            if _gap(regrouped[n], out[n]) <= atol:
                tag, why = "reshape-scrambles", (
                    f"They are the scores of window {n} when its F·T = {n_features * T} numbers are regrouped "
                    f"into T = {T} rows of F = {n_features} in memory order: a view or reshape moves no axis, "
                    "it cuts the same run of numbers into new rows, so a step holds readings of other times "
                    "and channels, not the F channels at one time.")
            elif N >= 2:
                moved = X.clone()
                moved[0] += 1.0
                b = call_sequence_model(model, {"X": moved}, what=what)
                if isinstance(b, torch.Tensor) and b.shape == out.shape and not _gap(b[1:], out[1:]) <= 1e-6:
                    tag, why = "batch-mixing", ("Changing window 0 changes the scores of the other windows: "
                                                "information flows from one window to another.")
        except Exception:  # noqa: BLE001 - the hypotheses do not apply
            pass
    raise CheckFailed(f"{what}: window {n} of X {describe(X)} gets scores that differ by up to {per_row[n]:.3g} "
                      "from what the model's own layers give for that window alone, read in time order: rnn "
                      f"over its T = {T} steps of F = {n_features} readings, then head on the last step."
                      + (f"\n{why}" if why else ""), tag)


# ----------------------------------------------------------------------------- an initial state from features
def check_conditioned_decoder(model, feats: torch.Tensor, X: torch.Tensor, *, layers: int, hidden: int,
                              what: str = "model(feats, X)", atol: float = 1e-5) -> torch.Tensor:
    """model(feats, X) must equal, row by row, what its own layers give for that row alone: the row's
    init_state(feats[n]) cut into `layers` states of `hidden` numbers (layer 0 first) as the GRU's initial
    state, then embed, rnn, head. So each caption depends on its own image only."""
    if hasattr(model, "eval"):
        model.eval()
    N = X.shape[0]
    args = {"feats": feats.clone(), "X": X.clone()}
    with _no_grad():
        out = _require_tensor(call_sequence_model(model, args, what=what), what)
    check_not_mutated(what, {"feats": feats, "X": X}, args)
    with _no_grad():
        try:
            rows = []
            for n in range(N):
                s = model.init_state(feats[n:n + 1])                 # (1, layers * hidden): image n's states
                h0 = s.reshape(layers, 1, hidden)                    # (layers, 1, hidden), layer 0 first
                seq, _ = model.rnn(model.embed(X[n:n + 1]), h0)      # (1, T, hidden)
                rows.append(model.head(seq))                         # (1, T, V)
            ref = torch.cat(rows)                                    # (N, T, V)
        except Exception as exc:  # noqa: BLE001 - layers renamed or changed
            raise _layers_failed(exc, "init_state, embed, rnn and head") from None
    if tuple(out.shape) != tuple(ref.shape):
        why = " The batch dim of size N = 1 is gone." if N == 1 and out.dim() < ref.dim() else ""
        raise CheckFailed(f"{what} maps feats {describe(feats)} and X {describe(X)} to {describe(out)}; it "
                          f"must give {shape_str(ref.shape)}, one row of scores per caption.{why}",
                          "output-shape")
    gap = _gap(out, ref)
    if gap <= atol:
        return out
    why, tag = "", "wrong-value"
    with _no_grad():
        try:
            scrambled = model.init_state(feats).reshape(layers, N, hidden)          # (N, L*H) regrouped
            seq, _ = model.rnn(model.embed(X), scrambled)
            if _gap(model.head(seq), out) <= atol:
                tag, why = "reshape-scrambles", (
                    f"Your initial state is init_state(feats) {shape_str((N, layers * hidden))} regrouped "
                    f"into {shape_str((layers, N, hidden))} in memory order: a view or reshape moves no "
                    "axis, it cuts the same run of numbers into new rows, so the state of layer l for "
                    "image n is made of numbers that belong to other images and other layers.")
        except Exception:  # noqa: BLE001 - the hypothesis does not apply
            pass
        if not why and N >= 2:
            moved = feats.clone()
            moved[0] += 1.0
            b = call_sequence_model(model, {"feats": moved, "X": X.clone()}, what=what)
            if isinstance(b, torch.Tensor) and b.shape == out.shape and not _gap(b[1:], out[1:]) <= 1e-6:
                tag, why = "batch-mixing", ("Changing image 0's features changes the scores of the other "
                                            "captions: information flows from one sample to another.")
    raise CheckFailed(f"{what} for feats {describe(feats)} and X {describe(X)} differs by up to {gap:.3g} "
                      "from what its own layers give for each caption alone, started from the initial state "
                      "of its own image (layer 0's `hidden` numbers first, then layer 1's, ...)."
                      + (f"\n{why}" if why else ""), tag)


# ----------------------------------------------------------------------------- an id stored as a number
def station_data(N: int, T: int, n_stations: int, seed: int = 0):
    """Logged steps X (N, T, 2) float: column 0 the id of the station that sent the step (0..n_stations-1,
    stored as a float), column 1 its reading; alarm levels y (N, T) in 0..2: the station's own base level
    (a fixed table, unrelated to the size of the id) plus 1 when the reading is positive, mod 3."""
    table = torch.randperm(n_stations, generator=torch.Generator().manual_seed(77 + n_stations)) % 3   # (K,)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, n_stations, (N, T), generator=g)          # (N, T)
    reading = torch.randn((N, T), generator=g)                       # (N, T)
    y = (table[ids] + (reading > 0).long()) % 3                      # (N, T)
    return torch.stack([ids.float(), reading], dim=-1), y            # (N, T, 2), (N, T)


def report_training(model, train: tuple, test: tuple, loss_fn=None, *, steps: int = 40, lr: float = 0.03,
                    seed: int = 0) -> dict:
    """For lessons and an exercise's demo cell: train model with Adam on train = (X, y) for `steps` steps,
    then print its final training loss and its accuracy (classes in the last dim of the scores) on the
    training data and on the new data `test`. Returns the three numbers."""
    loss_fn = loss_fn or token_cross_entropy
    X, y = train
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
    model.eval()
    with _no_grad():
        accs = [float((model(Xe).argmax(-1) == ye)[ye != -100].float().mean()) for Xe, ye in (train, test)]
    value = float(loss.detach())
    print(f"after {steps} Adam steps: training loss {value:.4f} | accuracy on the training data "
          f"{accs[0]:.3f} | on new data {accs[1]:.3f}")
    return {"loss": value, "train_accuracy": accs[0], "test_accuracy": accs[1]}


# ----------------------------------------------------------------------------- a language model's loss
def counting_data(N: int, T: int, V: int, seed: int = 0, time_first: bool = False) -> torch.Tensor:
    """Sequences x (N, T) that count modulo V: x[n, t] = (start_n + step_n * t) mod V, with a step of 1, 2
    or 3 per sequence. The next token follows from the last two; the second does not follow from the first.
    With ``time_first`` the same sequences are laid out (T, N): x[t, n]."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, V, (N, 1), generator=g)                 # (N, 1)
    step = torch.randint(1, 4, (N, 1), generator=g)                  # (N, 1)
    x = (start + step * torch.arange(T)[None, :]) % V                # (N, T)
    return x.T.contiguous() if time_first else x                     # (T, N) or (N, T)


def continue_greedy(model, prefix: torch.Tensor, steps: int, time_first: bool = False) -> torch.Tensor:
    """Continue each prefix (N, P) by `steps` tokens: at each step, the scores at the LAST position of
    model(sequence so far) (N, t, V) give the next token (their argmax). Returns the new tokens (N, steps).
    With ``time_first`` the prefixes are (P, N), the scores (t, N, V) and the new tokens (steps, N)."""
    ys = prefix
    t = 0 if time_first else 1
    with _no_grad():
        for _ in range(steps):
            last = model(ys)[-1] if time_first else model(ys)[:, -1]  # (N, V)
            nxt = last.argmax(-1, keepdim=True)                       # (N, 1)
            ys = torch.cat([ys, nxt.T if time_first else nxt], dim=t)
    return ys[prefix.shape[0]:] if time_first else ys[:, prefix.shape[1]:]


def train_and_continue(model, loss_fn, *, V: int, steps: int = 60, lr: float = 0.03, seed: int = 0,
                       prefix: int = 3, time_first: bool = False) -> dict:
    """For an exercise's demo cell: train a language model with loss_fn(model, x) on fresh batches of
    counting_data (laid out (T, N) with ``time_first``), then continue held-out prefixes greedily; print
    the final loss and the fraction of continued tokens that are right."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, counting_data(64, 8, V, seed=100 + step, time_first=time_first))
        loss.backward()
        opt.step()
    model.eval()
    test = counting_data(128, 8, V, seed=999)                        # (N, T)
    if time_first:
        cont = continue_greedy(model, test[:, :prefix].T, 8 - prefix, time_first=True).T   # (N, 8 - prefix)
    else:
        cont = continue_greedy(model, test[:, :prefix], 8 - prefix)
    acc = float((cont == test[:, prefix:]).float().mean())
    value = float(loss.detach())
    print(f"after {steps} Adam steps: training loss {value:.4f} | continuing {prefix}-token prefixes of "
          f"new sequences: {acc:.3f} of the next {8 - prefix} tokens right")
    return {"loss": value, "accuracy": acc}


def _lm_hypotheses(model, x: torch.Tensor, time_first: bool = False) -> list:
    """(tag, why, value) for language-model losses whose exact value can be computed from the model."""
    if time_first:
        return _lm_hypotheses_time_first(model, x)

    def ce(scores, target):
        return _ce_tokens(scores, target)

    copy = ("Your value scores the scores at each position against the token that position has just "
            "read ({how}): the model can copy its input, the loss falls towards 0, and it learns nothing "
            "about the NEXT token.")
    return [
        ("no-shift", copy.format(how="x scored against x"), lambda: ce(model(x), x)),
        ("no-shift", copy.format(how="x without its last token, scored against itself"),
         lambda: ce(model(x[:, :-1]), x[:, :-1])),
        ("no-shift", copy.format(how="x without its first token, scored against itself"),
         lambda: ce(model(x[:, 1:]), x[:, 1:])),
        ("shift-reversed", ("Your value scores each position against the token BEFORE the one it read: a "
                            "model can remember the previous token, so this loss falls too, and it teaches "
                            "nothing about the next one."), lambda: ce(model(x[:, 1:]), x[:, :-1])),
        ("shift-reversed", ("Your value scores the position after t, which has read x[:, t + 1], against "
                            "x[:, t]: the previous token, which it can remember."),
         lambda: ce(model(x)[:, 1:], x[:, :-1])),
        ("wrap-around", ("Your value also scores the LAST position against the FIRST token of its sequence: "
                         "shifting by rolling wraps around, and that pair is no next token."),
         lambda: ce(model(x), x.roll(-1, dims=1))),
        ("softmax-before-loss", _SOFTMAX_TWICE.format(x="the model's scores"),
         lambda: ce(model(x[:, :-1]).softmax(-1), x[:, 1:])),
        ("reshape-scrambles",
         _SCRAMBLED.format(x="the model's scores", shape="(N, V, T-1)", one="a position"),
         lambda: F.cross_entropy(model(x[:, :-1]).reshape(x.shape[0], -1, x.shape[1] - 1), x[:, 1:])),
    ]


_COPY_TF = ("Your value scores the scores at each position against the token that position has just read "
            "({how}): the model can copy its input, the loss falls towards 0, and it learns nothing about the "
            "NEXT token.")


def _flat_scores(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of scores (..., V) flattened to rows of V against a flat target."""
    return F.cross_entropy(scores.reshape(-1, scores.shape[-1]), target)


def _lm_hypotheses_time_first(model, x: torch.Tensor) -> list:
    """_lm_hypotheses for a time-first model: x (T, N), model(x) (T, N, V)."""
    T, N = x.shape

    def ce(scores, target):                      # scores (T', N', V), target (T', N') -> the mean loss
        return F.cross_entropy(scores.permute(1, 2, 0), target.T)

    return [
        ("no-shift", _COPY_TF.format(how="x scored against x"), lambda: ce(model(x), x)),
        ("no-shift", _COPY_TF.format(how="x without its last step, scored against itself"),
         lambda: ce(model(x[:-1]), x[:-1])),
        ("no-shift", _COPY_TF.format(how="x without its first step, scored against itself"),
         lambda: ce(model(x[1:]), x[1:])),
        ("shift-on-batch", ("Your value scores the positions of sequence n against the tokens of sequence "
                            "n + 1, at the same time steps: the shift was made along dim 1 of x, which counts "
                            f"the N = {N} sequences in this time-first batch, not along its time axis."),
         lambda: ce(model(x[:, :-1]), x[:, 1:])),
        ("shift-on-batch", ("Your value scores the positions of sequence n + 1 against the tokens of sequence "
                            "n: the shift was made along dim 1 of x, which counts the sequences in this "
                            "time-first batch, not along its time axis."),
         lambda: ce(model(x[:, 1:]), x[:, :-1])),
        ("shift-reversed", ("Your value scores each position against the token BEFORE the one it read: a "
                            "model can remember the previous token, so this loss falls too, and it teaches "
                            "nothing about the next one."), lambda: ce(model(x[1:]), x[:-1])),
        ("shift-reversed", ("Your value scores the position that has read step t + 1 against the token at "
                            "step t: the previous token, which it can remember."),
         lambda: ce(model(x)[1:], x[:-1])),
        ("wrap-around", ("Your value also scores the LAST position against the FIRST token of its sequence: "
                         "shifting by rolling wraps around, and that pair is no next token."),
         lambda: ce(model(x), x.roll(-1, dims=0))),
        ("misaligned", ("Your value pairs the scores and the next tokens in different orders: the scores are "
                        "time-first, so flattened they list step 0 of every sequence, then step 1, ...; the "
                        "next tokens were flattened sequence by sequence. A position is scored against "
                        "another position's next token."),
         lambda: _flat_scores(model(x[:-1]), x[1:].T.reshape(-1))),
        ("softmax-before-loss", _SOFTMAX_TWICE.format(x="the model's scores"),
         lambda: ce(model(x[:-1]).softmax(-1), x[1:])),
        ("reshape-scrambles",
         _SCRAMBLED.format(x="the model's scores", shape="(N, V, T-1)", one="a position"),
         lambda: F.cross_entropy(model(x[:-1]).reshape(N, -1, T - 1), x[1:].T)),
    ]


def check_lm_trains(fn, model, train, test: torch.Tensor, *, steps: int = 60, lr: float = 0.03,
                    min_accuracy: float = 0.9, prefix: int = 3, seed: int = 0, time_first: bool = False) -> float:
    """Train ``model`` with Adam on fn(model, x), one batch per step from ``train`` (a list of (N, T)
    batches, cycled, or (T, N) with ``time_first``); then continuing the first `prefix` tokens of the
    held-out ``test`` sequences greedily must get min_accuracy of the remaining tokens right."""
    batches = list(train)
    name = getattr(fn, "__name__", "your function")
    what = f"{name}(model, x)"
    value = _train_on_batches(fn, model, [{"x": x} for x in batches], steps=steps, lr=lr, seed=seed, what=what)
    if time_first:
        cont = continue_greedy(model, test[:prefix], test.shape[0] - prefix, time_first=True)   # (T - P, N)
        acc = float((cont == test[prefix:]).float().mean())
    else:
        cont = continue_greedy(model, test[:, :prefix], test.shape[1] - prefix)
        acc = float((cont == test[:, prefix:]).float().mean())
    if not acc >= min_accuracy:
        raise CheckFailed(f"After {steps} training steps with {name} (final training loss {value:.4f}), "
                          f"continuing {prefix}-token prefixes of held-out sequences gets {acc:.3f} of the "
                          f"next tokens right; it should reach {min_accuracy:.2f} on this easy task. A "
                          "training loss near 0 on sequences whose next token is not certain means the loss "
                          "scores something the model can see.", "does-not-learn")
    return acc
