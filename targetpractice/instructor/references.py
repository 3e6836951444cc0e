"""The grader's own references: each exercise's answer computed another way, in grader-only code.

Checks compare a student's function with `checks.expected(<exercise>)`. In the grader's process
(and wherever this module is imported: the instructor's kernels, `nbgrader validate`) that is the
reference below; importing this module registers it. In a student's kernel this module is not
there (the sandbox hides targetpractice.instructor), and `checks.expected` answers from the values
the build recorded for the quick checks' own inputs (targetpractice/checks/expected.json), so the
references never run where a student's code could call them or read them from a frame.

    EXPECTED["column_labels"](logits, y)     # what loss_from_column_labels(logits, y) must return
"""
from __future__ import annotations

import torch

from ..checks import core
from ..checks.core import CheckFailed, _logsumexp
from ..checks.regression_and_broadcasting import _pair_up
from ..checks.sequences_and_padding import padding_mask
from ..diagnosis import shape_str

_logsigmoid = torch.nn.functional.logsigmoid


def reference_cross_entropy(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean"):
    """Cross-entropy computed sample by sample from its definition (not with F.cross_entropy)."""
    losses = torch.stack([_logsumexp(logits[n], 0) - logits[n, y[n]] for n in range(logits.shape[0])])
    return losses.mean() if reduction == "mean" else losses


def reference_accuracy(logits: torch.Tensor, y: torch.Tensor, k: int = 1) -> float:
    """Fraction of samples whose label is among their k highest logits (k = 1: their highest logit is
    their label), counted one by one."""
    hits = sum(int(int(y[n]) in logits[n].topk(k).indices.tolist()) for n in range(logits.shape[0]))
    return hits / logits.shape[0]


def reference_annotator_cross_entropy(logits: torch.Tensor, onehot: torch.Tensor):
    """Cross-entropy against the annotators' class fractions, (N, A, C) one-hot labels: by linearity, the
    mean over the A annotators of each annotator's own cross-entropy."""
    A = onehot.shape[1]
    return torch.stack([reference_cross_entropy(logits, onehot[:, a].argmax(1)) for a in range(A)]).mean()


def reference_confusion_rates(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(C, C): row i holds, for the samples of true class i, the fraction whose highest logit is class j,
    counted sample by sample; a class with no sample gets a row of zeros (such rows are not checked)."""
    C = logits.shape[1]
    rates = torch.zeros(C, C)
    for i in range(C):
        members = [n for n in range(y.shape[0]) if int(y[n]) == i]
        for j in range(C):
            hits = sum(int(int(logits[n].argmax()) == j) for n in members)
            rates[i, j] = hits / len(members) if members else 0.0
    return rates


def predicted_pipeline_shapes() -> dict:
    """The pipeline that exercise predict_shape (01) describes in words, built and run: {name: shape}.

    Plankton: 48 measurements per sample, 9 species; __getitem__ returns (x, torch.tensor([species]))
    (or [species], a list); DataLoader(batch_size=64), last batch kept; Linear(48, 32), ReLU, Linear(32, 9).
    """
    from torch.utils.data import DataLoader, Dataset

    nn, F = torch.nn, torch.nn.functional

    class Plankton(Dataset):
        def __init__(self, n, as_list=False):
            self.n, self.as_list = n, as_list

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            x = torch.randn(48, generator=torch.Generator().manual_seed(i))          # (48,)
            species = i % 9
            return x, ([species] if self.as_list else torch.tensor([species]))

    def last(loader):
        for batch in loader:
            pass
        return batch

    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 9))
        X, y = last(DataLoader(Plankton(1000), batch_size=64))                    # the last batch: 1000 % 64
        logits = model(X)
        shapes = {"shape_y": y.shape, "shape_logits": logits.shape,
                  "shape_loss_none": F.cross_entropy(logits, y[:, 0], reduction="none").shape,
                  "shape_hits": (logits.argmax(dim=1) == y).shape,
                  "shape_loss": F.cross_entropy(logits, y.view(-1)).shape}
        X1, y1 = last(DataLoader(Plankton(1025), batch_size=64))                   # 1025 % 64 = 1
        shapes["shape_y_squeezed"] = y1.squeeze().shape
        shapes["shape_logits_squeezed"] = model(X1).squeeze().shape
        _, y_list = next(iter(DataLoader(Plankton(1000, as_list=True), batch_size=64)))
        shapes["shape_first_label_tensor"] = y_list[0].shape                      # a list of one tensor
    return {k: tuple(v) for k, v in shapes.items()}


def reference_bce_with_logits(logits: torch.Tensor, targets: torch.Tensor, pos_weight=None,
                              class_dim: int = 1, reduction: str = "mean"):
    """BCE-with-logits from its definition, -[p * y * log s(z) + (1 - y) * log(1 - s(z))], element-wise.

    ``targets`` must have the logits' shape. ``pos_weight`` holds one weight per class and is laid
    along ``class_dim`` of the logits here, whatever shape the student's code gives it.
    """
    z, t = logits, targets.to(logits.dtype)
    if tuple(z.shape) != tuple(t.shape):
        raise ValueError(f"reference_bce_with_logits needs equal shapes, got {shape_str(z.shape)} and "
                         f"{shape_str(t.shape)}")
    w = torch.ones((), dtype=z.dtype)
    if pos_weight is not None:
        pw = torch.as_tensor(pos_weight, dtype=z.dtype).reshape(-1)          # (C,)
        view = [1] * z.dim()
        view[class_dim % z.dim()] = pw.numel()
        w = pw.reshape(view)                                                 # (1, C, 1, ...) on class_dim
    losses = -(w * t * _logsigmoid(z) + (1 - t) * _logsigmoid(-z))          # log(1 - s(z)) = log s(-z)
    if reduction == "none":
        return losses
    return losses.sum() / max(losses.numel(), 1) if reduction == "mean" else losses.sum()


def reference_multi_hot(tag_ids: torch.Tensor, C: int, dtype=torch.float32) -> torch.Tensor:
    """(N, K) tag ids padded with -1 -> (N, C) multi-hot, sample by sample and tag by tag (-1 is no tag)."""
    Y = torch.zeros(tag_ids.shape[0], C, dtype=dtype)
    for n in range(tag_ids.shape[0]):
        for k in range(tag_ids.shape[1]):
            tag = int(tag_ids[n, k])
            if tag >= 0:
                Y[n, tag] = 1.0
    return Y


def reference_tag_pos_weight(Y_train: torch.Tensor) -> torch.Tensor:
    """(C,): for each tag, the training samples without it over those with it, counted one by one."""
    M, C = Y_train.shape
    with_tag = torch.tensor([sum(float(Y_train[m, c]) for m in range(M)) for c in range(C)],
                            dtype=Y_train.dtype)
    return (M - with_tag) / with_tag


def reference_tag_recall(logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """(C,): for each tag, of the samples that carry it, the fraction whose logit for it is > 0 (probability
    above 0.5), counted one by one; 0. for a tag no sample carries (such tags are not checked)."""
    N, C = Y.shape
    recall = torch.zeros(C)
    for c in range(C):
        carriers = [n for n in range(N) if float(Y[n, c]) > 0.5]
        found = sum(int(float(logits[n, c]) > 0) for n in carriers)
        recall[c] = found / len(carriers) if carriers else 0.0
    return recall


def predicted_tagger_shapes() -> dict:
    """The bird-song pipeline that exercise predict_tagger (02) describes in words, built and run:
    {name: shape}.

    1,000 (then 1,009) recordings of 64 numbers, 17 species multi-hot; DataLoader(batch_size=48), last batch
    kept; tagger Linear(64, 128), ReLU, Linear(128, 17); `singing` the same with Linear(128, 1).
    """
    from torch.utils.data import DataLoader, TensorDataset

    nn, F = torch.nn, torch.nn.functional

    def last_batch(n):
        g = torch.Generator().manual_seed(n)
        X_all, Y_all = torch.randn(n, 64, generator=g), (torch.rand(n, 17, generator=g) < 0.2).float()
        Y_all[0] = 1.0                                                          # every species heard once
        for batch in DataLoader(TensorDataset(X_all, Y_all), batch_size=48):
            pass
        return Y_all, batch

    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        tagger = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 17))
        singing = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 1))
        Y_all, (X, Y) = last_batch(1000)                                        # 1000 % 48 = 40
        logits, z = tagger(X), singing(X)
        pos_weight = (len(Y_all) - Y_all.sum(dim=0)) / Y_all.sum(dim=0)
        shapes = {
            "shape_logits": logits.shape,
            "shape_bce_none": F.binary_cross_entropy_with_logits(logits, Y, reduction="none").shape,
            "shape_per_recording":
                F.binary_cross_entropy_with_logits(logits, Y, reduction="none").mean(dim=1).shape,
            "shape_tags_found": (logits > 0).float().sum(dim=0).shape,
            "shape_pos_weight": pos_weight.shape,
            "shape_any": Y.amax(dim=1).shape,
            "shape_z": z.shape,
            "shape_table": (z - Y.amax(dim=1)).shape,
        }
        _, (X1, _) = last_batch(1009)                                           # 1009 % 48 = 1
        z1 = singing(X1)
        shapes["shape_z_squeezed"] = z1.squeeze().shape
        shapes["shape_z_column"] = z1[:, 0].shape
    return {k: tuple(v) for k, v in shapes.items()}


def reference_mse(output: torch.Tensor, target: torch.Tensor):
    """Mean squared error pairing output value i with target value i (row-major order); never broadcasts."""
    o, t = _pair_up(output, target, "reference_mse")
    diff = o - t
    return (diff * diff).sum() / diff.numel()


def reference_gaussian_nll(mean: torch.Tensor, target: torch.Tensor, var, eps: float = 1e-6):
    """Mean Gaussian NLL 0.5 * (log var + (mean - target)² / var), value i against value i; var clamped at eps."""
    m, t = _pair_up(mean, target, "reference_gaussian_nll")
    v = torch.as_tensor(var, dtype=m.dtype)
    v = v.reshape(-1) if v.numel() == m.numel() else v.reshape(-1).expand_as(m)
    v = v + (v.detach().clamp(min=eps) - v.detach())                      # clamp the value, keep the gradient
    return (0.5 * (v.log() + (m - t) ** 2 / v)).sum() / m.numel()


def reference_l1(output: torch.Tensor, target: torch.Tensor):
    """Mean absolute error pairing output value i with target value i (row-major order); never broadcasts."""
    o, t = _pair_up(output, target, "reference_l1")
    return (o - t).abs().sum() / o.numel()


def reference_poisson_nll(log_rate: torch.Tensor, counts: torch.Tensor):
    """Mean Poisson NLL with log-rate inputs, exp(x) - t * x (torch's default: log_input, not full), value i
    against value i."""
    x, t = _pair_up(log_rate, counts, "reference_poisson_nll")
    return (x.exp() - t * x).sum() / x.numel()


def reference_weighted_mse(output: torch.Tensor, y: torch.Tensor, w: torch.Tensor):
    """sum_n w[n] (output[n] - y[n])² / sum_n w[n], sample by sample (output (N, 1), y (N,), w (N,))."""
    o, t = _pair_up(output, y, "reference_weighted_mse")
    ws = w.detach().reshape(-1).to(o.dtype)
    return sum(ws[n] * (o[n] - t[n]) ** 2 for n in range(o.numel())) / ws.sum()


def reference_hit_fraction(pred: torch.Tensor, y: torch.Tensor, tol: torch.Tensor) -> float:
    """Fraction of samples n with |pred[n, k] - y[n, k]| <= tol[k] for every k, counted one by one."""
    N, K = y.shape
    hits = sum(all(float((pred[n, k] - y[n, k]).abs()) <= float(tol[k]) for k in range(K)) for n in range(N))
    return hits / N


def predicted_forecaster_shapes() -> dict:
    """The forecaster that exercise predict_broadcast (03) describes in words, built and run: {name: shape}.

    N = 12 stations, F = 9 measurements, K = 5 quantities; Linear(9, 5); y (12, 5); w (12,).
    """
    import warnings

    nn, F = torch.nn, torch.nn.functional
    with torch.random.fork_rng(), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                          # the (12,) against (12, 1) loss warns
        torch.manual_seed(0)
        X = torch.randn(12, 9)
        net = nn.Linear(9, 5)
        out = net(X)
        y = torch.randn(12, 5)
        w = torch.rand(12)
        shapes = {"shape_out": out.shape,
                  "shape_mean": y.mean(0).shape,
                  "shape_scaled": ((y - y.mean(0)) / y.std(0)).shape,
                  "shape_station_err": (out - y).abs().mean(1, keepdim=True).shape,
                  "shape_temp_loss": F.mse_loss(out[:, 0], y[:, :1], reduction="none").shape,
                  "shape_weighted": (w * (out - y).pow(2).mean(1, keepdim=True)).shape,
                  "shape_columns": torch.stack([y[:, k] for k in range(5)]).shape,
                  "shape_all_close": ((out - y).abs() <= 0.5).all(0).shape}
    return {k: tuple(v) for k, v in shapes.items()}


def reference_token_cross_entropy(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = -100,
                                  reduction: str = "mean"):
    """Cross-entropy of (N, T, V) logits against (N, T) ids, token by token, skipping ignore_index.

    "mean" averages over the real tokens only; "none" gives (N, T) with 0 at the skipped positions.
    """
    N, T = y.shape
    rows = []
    for n in range(N):
        row = []
        for t in range(T):
            k = int(y[n, t])
            row.append(logits.new_zeros(()) if k == ignore_index else _logsumexp(logits[n, t], 0) - logits[n, t, k])
        rows.append(torch.stack(row))
    losses = torch.stack(rows)                                    # (N, T)
    if reduction == "none":
        return losses
    real = int((y != ignore_index).sum())
    return losses.sum() / real if real else losses.sum() * float("nan")


def reference_token_accuracy(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = -100) -> float:
    """Fraction of real tokens (y != ignore_index) whose highest score (last dim) is their id."""
    hits = total = 0
    for n in range(y.shape[0]):
        for t in range(y.shape[1]):
            if int(y[n, t]) != ignore_index:
                total += 1
                hits += int(int(logits[n, t].argmax()) == int(y[n, t]))
    return hits / total if total else float("nan")


def reference_teacher_forcing_loss(model, src: torch.Tensor, tgt: torch.Tensor, ignore_index: int = -100):
    """Next-token cross-entropy of an encoder-decoder, one prefix at a time.

    ``model.encode(src)`` returns (outputs, state); ``model.decode(tgt_in, state)`` returns (N, T_in, V).
    Step t scores tgt[:, t + 1] from the prefix tgt[:, :t + 1], so no slicing of a full-length call is trusted.
    """
    _, state = model.encode(src)
    steps = [model.decode(tgt[:, :t + 1], state)[:, -1] for t in range(tgt.shape[1] - 1)]  # T-1 of (N, V)
    return reference_token_cross_entropy(torch.stack(steps, dim=1), tgt[:, 1:], ignore_index)


def _masked_token_cross_entropy(logits, y, lengths):
    """Pads (beyond lengths[n]) turned into ignore_index, then token by token."""
    return reference_token_cross_entropy(logits, y.masked_fill(~padding_mask(lengths, y.shape[1]), -100))


# 05: the references of the exercises of issue 13 (frames time-first, left padding, padded targets, a LM)
def reference_frame_nll(log_probs: torch.Tensor, y: torch.Tensor):
    """Mean NLL of time-first log-probabilities (T, N, C) against batch-first labels (N, T), frame by frame."""
    T, N, _ = log_probs.shape
    return torch.stack([-log_probs[t, n, y[n, t]] for n in range(N) for t in range(T)]).mean()


def _left_masked_token_cross_entropy(logits, y, lengths):
    """A batch padded on the left: the last lengths[n] steps of row n are real; the rest become ignore_index."""
    return reference_token_cross_entropy(logits, y.masked_fill(~padding_mask(lengths, y.shape[1], "left"), -100))


def reference_padded_teacher_forcing(model, src: torch.Tensor, tgt: torch.Tensor, ignore_index: int = -100):
    """Teacher-forced next-token cross-entropy over the real target tokens, one sequence and one prefix at a
    time: the real prefix tgt[n, :t + 1] predicts tgt[n, t + 1], for every real tgt[n, t + 1]. The pads
    (ignore_index, after a row's last real token) never reach the model."""
    losses = []
    for n in range(src.shape[0]):
        _, state = model.encode(src[n:n + 1])                                   # (1, 1, hidden)
        real = int((tgt[n] != ignore_index).sum())
        for t in range(real - 1):
            scores = model.decode(tgt[n:n + 1, :t + 1], state)[0, -1]          # (V,)
            losses.append(_logsumexp(scores, 0) - scores[tgt[n, t + 1]])
    return torch.stack(losses).mean()


def reference_next_token_loss(model, x: torch.Tensor):
    """A language model's loss one prefix at a time: model(x[:, :t + 1]) (N, t + 1, V) at its last position
    scores x[:, t + 1], for t = 0 .. T - 2; the mean over all those tokens."""
    steps = [model(x[:, :t + 1])[:, -1] for t in range(x.shape[1] - 1)]        # T-1 of (N, V)
    return reference_token_cross_entropy(torch.stack(steps, dim=1), x[:, 1:])


def reference_next_token_loss_time_first(model, x: torch.Tensor):
    """reference_next_token_loss for a time-first language model: x (T, N), model(x) (T, N, V). The scores
    at the last position of model(x[:t + 1]) predict x[t + 1], for t = 0 .. T - 2; the mean over all those."""
    steps = [model(x[:t + 1])[-1] for t in range(x.shape[0] - 1)]            # T-1 of (N, V)
    return reference_token_cross_entropy(torch.stack(steps, dim=1), x[1:].T)   # (N, T-1, V) with (N, T-1)


def predicted_ner_shapes() -> dict:
    """The tagger that exercise predict_rnn (05) describes in words, built and run: {name: shape}.

    5,000 words, 17 entity tags; 27 sentences padded by the loader to 41 tokens, the longest 37 real tokens;
    Embedding(5000, 56) -> LSTM(56, 36, num_layers=3, bidirectional=True, batch_first=True) -> Linear(72, 17).
    """
    nn, F = torch.nn, torch.nn.functional
    rnn_utils = torch.nn.utils.rnn
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        lengths = torch.randint(1, 38, (27,))
        lengths[5] = 37                                                        # the longest sentence: 37
        X = torch.randint(1, 5000, (27, 41)).masked_fill(~padding_mask(lengths, 41), 0)
        y = torch.randint(0, 17, (27, 41)).masked_fill(~padding_mask(lengths, 41), -100)
        embed, head = nn.Embedding(5000, 56), nn.Linear(72, 17)
        lstm = nn.LSTM(56, 36, num_layers=3, bidirectional=True, batch_first=True)
        emb = embed(X)
        out, (h_n, c_n) = lstm(emb)
        logits = head(out)
        packed = rnn_utils.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        unpacked, _ = rnn_utils.pad_packed_sequence(lstm(packed)[0], batch_first=True)
        shapes = {"shape_emb": emb.shape, "shape_out": out.shape, "shape_h_n": h_n.shape,
                  "shape_out_minus_1": out[-1].shape, "shape_h_n_last": h_n[-1].shape,
                  "shape_loss_none": F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none").shape,
                  "shape_flat_logits": logits.reshape(-1, 17).shape, "shape_unpacked": unpacked.shape,
                  "shape_last_real": out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, 72)).shape}
    return {k: tuple(v) for k, v in shapes.items()}


def smallest_stem_input(side: int) -> int:
    """Exercise conv_out (04): the smallest square image size for which the stem its text describes (7x7
    conv stride 2 pad 3, 3x3 max-pool stride 2 pad 1, 3x3 conv stride 2) gives at least side x side,
    found by bisection with the real layers run on blank images (a size they refuse counts as 0)."""
    nn = torch.nn
    stem = nn.Sequential(nn.Conv2d(1, 1, 7, stride=2, padding=3), nn.MaxPool2d(3, stride=2, padding=1),
                         nn.Conv2d(1, 1, 3, stride=2))

    def out(n):
        try:
            with torch.no_grad():
                return int(stem(torch.zeros(1, 1, n, n)).shape[-1])
        except RuntimeError:                        # too small for a kernel
            return 0

    lo, hi = 1, 16
    while out(hi) < side:
        hi *= 2
    while lo < hi:                                  # the side grows with the size: bisect
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if out(mid) < side else (lo, mid)
    return lo


def predicted_thermal_shapes() -> dict:
    """Exercise predict_cnn (04): the thermal-camera classifier its text describes, built and run on a
    batch of 6 images of 45 x 60: {name: shape}. mat2 is read from the real error of a head built as
    nn.Linear(20 * 5 * 7, 5)."""
    import re

    nn, F = torch.nn, torch.nn.functional
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        imgs = torch.randn(6, 45, 60)                                               # (N, H, W)
        x = imgs[:, None]
        conv1 = nn.Conv2d(1, 10, kernel_size=5)(x)
        pool1 = nn.MaxPool2d(2)(conv1)
        conv2 = nn.Conv2d(10, 20, kernel_size=3, stride=2, padding=1)(pool1)
        pool2 = nn.MaxPool2d(3)(conv2)
        flat = nn.Flatten()(pool2)
        head = nn.Linear(flat.shape[1], 5)
        logits = head(flat)
        y = torch.arange(6) % 5
        losses = F.cross_entropy(logits, y, reduction="none")
        try:
            nn.Linear(20 * 5 * 7, 5)(flat)
            mat2 = None
        except RuntimeError as exc:
            a, b, c, d = map(int, re.search(r"\((\d+)x(\d+) and (\d+)x(\d+)\)", str(exc)).groups())
            mat2 = (c, d)
    shapes = {"shape_x": x.shape, "shape_conv1": conv1.shape, "shape_pool1": pool1.shape,
              "shape_conv2": conv2.shape, "shape_pool2": pool2.shape, "shape_flat": flat.shape,
              "shape_weight": head.weight.shape, "shape_losses": losses.shape, "shape_mat2": mat2}
    return {k: tuple(v) for k, v in shapes.items()}


# What each exercise's function must return, keyed by exercise id (unique across topics).
EXPECTED = {
    # 01 classification
    "column_labels": lambda logits, y: reference_cross_entropy(logits, y[:, 0]),           # y (N, 1)
    "one_hot": reference_annotator_cross_entropy,                                          # onehot (N, A, C)
    "one_based": lambda logits, y1: reference_cross_entropy(logits, y1[:, 0].long() - 1),  # (N, 1) float 1..C
    "accuracy": reference_accuracy,                                                        # y (N,), k
    "confusion_rates": reference_confusion_rates,                                          # y (N,)
    "predict_shape": predicted_pipeline_shapes,                                            # no arguments
    # 02 binary and multi-label
    "column_logits": lambda logits, y: reference_bce_with_logits(logits, y[:, None]),      # logits (N, 1), y (N,)
    "signed_labels": lambda logits, y: reference_bce_with_logits(logits, (y + 1) / 2),      # y (N, 1) +1./-1.
    "one_logit_head": lambda logits, y: reference_bce_with_logits(logits, y[:, None]),     # y (N,) int64 0/1
    "multilabel": lambda logits, tag_ids: reference_bce_with_logits(                       # tag_ids (N, K)
        logits, reference_multi_hot(tag_ids, logits.shape[1], logits.dtype)),
    "tag_pos_weight": lambda logits, Y, Y_train: reference_bce_with_logits(                # Y_train (M, C)
        logits, Y, pos_weight=reference_tag_pos_weight(Y_train)),
    "tag_recall": reference_tag_recall,                                                    # (C,)
    "predict_tagger": predicted_tagger_shapes,                                             # no arguments
    # not an exercise any more; tests/test_library.py uses it as a cross-entropy reference
    "two_logits": lambda logits, y: reference_cross_entropy(logits, y.long()),
    # 03 regression and broadcasting
    "column_target": reference_l1,                                                         # out (N,), y (N, 1)
    "stacked_targets": lambda out, y_arch: reference_mse(out, torch.stack(list(y_arch), -1)),  # (K, N, H)
    "loud_poisson": reference_poisson_nll,
    "train_loop": reference_weighted_mse,                                                  # w (N,)
    "all_within": reference_hit_fraction,                                                  # tol (K,)
    "predict_broadcast": predicted_forecaster_shapes,
    # 04 convolutions and pooling
    "conv_out": smallest_stem_input,                                                      # side -> int
    "predict_cnn": predicted_thermal_shapes,                                               # no arguments
    "channels_last": lambda feats, weight: torch.einsum("nchw,oc->nohw", feats, weight),   # pixel by pixel
    # 05 sequences and padding
    "tagging_loss": reference_frame_nll,                                                   # (T, N, C), (N, T)
    "masked_loss": _left_masked_token_cross_entropy,                                       # padded on the left
    "seq2seq": reference_padded_teacher_forcing,                                           # tgt padded with -100
    "next_token": reference_next_token_loss_time_first,                                    # model, x (T, N)
    "predict_rnn": predicted_ner_shapes,                                                   # no arguments
}


def lookup(key: str):
    if key not in EXPECTED:
        raise CheckFailed(f"no reference for exercise {key!r} (targetpractice/instructor/references.py)", "authoring")
    return EXPECTED[key]


core.REFERENCES = lookup   # checks.expected() answers with these from now on, in this process
