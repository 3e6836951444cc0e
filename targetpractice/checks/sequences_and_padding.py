"""Checks for topic 05, sequences and padding: token-level references, padded batches, padding
invariance, held-out training, encoder-decoder losses. Classes are in the LAST dim here:
(N, T, V) or (N, C)."""
from __future__ import annotations

import torch

from ..diagnosis import describe, shape_str
from .core import (CheckFailed, _args_text, _gap, _logsumexp, _no_grad, _require_tensor, call, held_out_split, strict,
                   train_steps)



def token_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The known-good loss for training a tagger in a check: scores (N, T, V), ids (N, T)."""
    return torch.nn.functional.cross_entropy(out.permute(0, 2, 1), y)   # (N, V, T) with (N, T)



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
    if not abs(a - b) <= atol:
        raise CheckFailed(f"{what} gave {a:.6f}; with {extra} more pad steps per row (same real tokens) it gave "
                          f"{b:.6f}. Padding must not count: average over the real tokens only "
                          "(sum over the mask / mask.sum(), or pad the targets with ignore_index).", "counts-padding")


def check_trains_tokens(model, X: torch.Tensor, y: torch.Tensor, loss_fn, *, test=None, steps: int = 100,
                        lr: float = 0.03, min_accuracy: float = 0.95, ignore_index: int = -100,
                        seed: int = 0) -> dict:
    """Train model with Adam on (X, y); scores have the classes in the LAST dim: (N, C) or (N, T, V).

    The accuracy counts real targets only (y != ignore_index), on ``test`` = (X_test, y_test) if given
    (a model that mixes samples can memorise its training batch), else on a held-out third of (X, y).
    """
    if test is None:                                   # hold out a third of the samples
        train, held_out = held_out_split(X.shape[0], seed)
        X, y, test = X[train], y[train], (X[held_out], y[held_out])
    value = train_steps(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    Xe, ye = test
    with _no_grad():
        model.eval()
        out = _require_tensor(call(model, {"X": Xe}, what="model(X)"), "model(X)")
    if tuple(out.shape[:-1]) != tuple(ye.shape):
        raise CheckFailed(f"model(X) gives {describe(out)} for X {describe(Xe)}; expected the classes in the last "
                          f"dim after {shape_str(ye.shape)}.", "output-shape")
    real = ye != ignore_index
    acc = float((out.argmax(-1)[real] == ye[real]).float().mean())
    where = "held-out data"
    if not acc >= min_accuracy:
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
    if not gap <= atol:
        raise CheckFailed(f"{what} returned {float(out.detach()):.6f}, but the loss computed step by step is "
                          f"{float(expected.detach()):.6f} (inputs: {_args_text(args)}).", "wrong-value")
    if not isinstance(expected, torch.Tensor) or not expected.requires_grad:
        return                                                # a recorded answer: the value is the check
    if not out.requires_grad:
        raise CheckFailed(f"{what} returned a loss that does not depend on the model's parameters, "
                          "so nothing would learn.", "no-gradient")
    mine = torch.autograd.grad(out, params, allow_unused=True)
    theirs = torch.autograd.grad(expected, params, allow_unused=True)
    for (name, _), a, b in zip([(n, p) for n, p in model.named_parameters() if p.requires_grad], mine, theirs):
        a = torch.zeros_like(b) if a is None and b is not None else a
        b = torch.zeros_like(a) if b is None and a is not None else b
        if a is not None and not _gap(a, b) <= 10 * atol:
            raise CheckFailed(f"{what}: the gradient of {name} differs from the reference (largest difference "
                              f"{_gap(a, b):.3g}), so training would follow the wrong signal.", "wrong-gradient")
