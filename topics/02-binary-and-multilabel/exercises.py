# %% [markdown]
# # 02 · Binary and multi-label — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error
# (or the silent wrong result) that the lesson `course/02-binary-and-multilabel-lesson.ipynb` explains.
# Fix the code **in place**, in the same cell, then run the check below it.
#
# * Shapes use the lesson's names: `N` samples, `C` classes or tags, `logits` (N, 1) or (N, C),
#   `y` labels, `H`, `W` image height and width.
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the
#   full check also runs hidden checks: other shapes (N = 1, an odd N), confident logits, the
#   gradient, and a few training steps. "Quick check passed" is not full marks.
# * Confident logits (|logit| > 20) are ordinary in a trained classifier. In float32 the sigmoid of
#   a logit above about 17 rounds to exactly 1.0, so every loss you write here must stay exact there.
# * Do not edit the check cells: they are restored from the instructor's copy at grading.

# %% locked setup
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("02-binary-and-multilabel")   # tp.hint("<exercise>") shows this notebook's hints

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · One logit per sample, one label per sample
#
# A binary classifier ends in `nn.Linear(F, 1)`, so its `logits` are (N, 1). The labels `y` come
# from a list: shape (N,), float 0./1. Make `binary_loss` return the mean binary cross-entropy
# with logits. It must work for every N, **including N = 1**, stay exact for confident logits
# (|logit| > 20), and the gradient must reach the logits.

# %% answer column_logits
def binary_loss(logits, y):
    """logits (N, 1) float, y (N,) float 0./1. -> mean binary cross-entropy with logits, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, y.view_as(logits))    # (N, 1) with (N, 1)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, y)                  # (N, 1) with (N,)
    ### END BROKEN CODE


X, y = checks.binary_data(4, 3)                             # (N, F), (N,)
binary_loss(nn.Linear(3, 1)(X), y)                          # logits (N, 1)

# %% quick column_logits 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("column_logits"):
    expected = checks.expected("column_logits")
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(4, 1, generator=g), torch.tensor([1., 0., 0., 1.])   # (4, 1), (4,)
    checks.check_bce_loss(binary_loss, expected, {"logits": logits, "y": y}, grad_of=None)
    logits, y = checks.confident_logits(5, 1, seed=1), torch.tensor([0., 1., 0., 0., 1.])   # (5, 1), (5,)
    checks.check_bce_loss(binary_loss, expected, {"logits": logits, "y": y}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden column_logits 2
def _inputs(N):
    g = torch.Generator().manual_seed(10 + N)
    return {"logits": 3 * torch.randn(N, 1, generator=g),                # (N, 1)
            "y": (torch.rand(N, generator=g) < 0.5).float()}            # (N,)
checks.check_bce_loss_fn(binary_loss, checks.expected("column_logits"), _inputs, sizes=(1, 2, 7))
g = torch.Generator().manual_seed(11)
args = {"logits": checks.confident_logits(7, 1, seed=11),                # (7, 1)
        "y": (torch.rand(7, generator=g) < 0.5).float()}                # (7,)
checks.check_bce_loss(binary_loss, checks.expected("column_logits"), args,
                      label=" with N = 7 and confident logits (|logit| > 20)")
X, y = checks.binary_data(96, 4, seed=3)                # (96, 4), (96,)
checks.check_trains_binary(nn.Linear(4, 1), X, y, binary_loss, steps=60, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 2 · Labels stored as integers
#
# This time the shapes agree: `logits` (N, 1) and `y` (N, 1). But the labels were read from a
# table as int64. Make `loss_from_int_labels` return the mean binary cross-entropy with logits.
# It must work for every N and stay exact for **confident** logits too (|logit| > 20), where a float32
# sigmoid rounds to exactly 1.0.

# %% answer int_labels
def loss_from_int_labels(logits, y):
    """logits (N, 1) float, y (N, 1) int64 0/1 -> mean binary cross-entropy with logits, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, y.float())            # float targets, same shape
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, y)                  # int64 targets
    ### END BROKEN CODE


logits = torch.randn(4, 1)                                  # (N, 1)
y = torch.tensor([[1], [0], [0], [1]])                      # (N, 1) int64
loss_from_int_labels(logits, y)

# %% quick int_labels 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("int_labels"):
    expected = checks.expected("int_labels")
    g = torch.Generator().manual_seed(2)
    logits, y = torch.randn(4, 1, generator=g), torch.tensor([[1], [0], [0], [1]])   # (4, 1), (4, 1) int64
    checks.check_bce_loss(loss_from_int_labels, expected, {"logits": logits, "y": y}, grad_of=None)
    logits = checks.confident_logits(5, 1, seed=2)                         # (5, 1)
    y = torch.tensor([[0], [0], [1], [0], [1]])                             # (5, 1) int64
    checks.check_bce_loss(loss_from_int_labels, expected, {"logits": logits, "y": y}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden int_labels 2
def _inputs(N):
    g = torch.Generator().manual_seed(20 + N)
    return {"logits": 3 * torch.randn(N, 1, generator=g),                # (N, 1)
            "y": torch.randint(0, 2, (N, 1), generator=g)}              # (N, 1) int64
checks.check_bce_loss_fn(loss_from_int_labels, checks.expected("int_labels"), _inputs, sizes=(1, 2, 7))
y = torch.tensor([[0], [1], [1], [0], [1]])             # (5, 1) int64
confident = 30.0 * (1 - 2 * y.float())                  # (5, 1) +30 for label 0, -30 for 1: all wrong
confident[3:] = -confident[3:]                          # the last two confidently right
checks.check_bce_loss(loss_from_int_labels, checks.expected("int_labels"), {"logits": confident, "y": y},
                      label=" with N = 5 and confident logits (|logit| = 30)")
X, y = checks.binary_data(96, 4, seed=4)                # (96, 4), (96,)
checks.check_trains_binary(nn.Linear(4, 1), X, y.long()[:, None], loss_from_int_labels, steps=60,
                           min_accuracy=0.95)

# %% [markdown]
# ## Exercise 3 · A binary classifier whose loss never gets low
#
# `make_binary_classifier` builds the model; the loop below trains it with `nn.BCEWithLogitsLoss`.
# The loss stalls near 0.5 however long it trains (the lesson measured this floor).
# Fix the model so that BCEWithLogitsLoss gets what it expects: the check trains it and wants the
# loss on held-out samples below 0.2. Keep the output shape (N, 1), for every N and every `n_features`.

# %% answer sigmoid_head
def make_binary_classifier(n_features):
    """An MLP for nn.BCEWithLogitsLoss: X (N, n_features) -> (N, 1)."""
    ### BEGIN SOLUTION
    return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 1))
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    ### END BROKEN CODE


X, y = checks.binary_data(96, 4)                            # (N, F), (N,)
model = make_binary_classifier(4)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(150):
    opt.zero_grad()
    loss = nn.BCEWithLogitsLoss()(model(X), y.view(-1, 1))  # (N, 1) with (N, 1)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.3f}")

# %% quick sigmoid_head 1
# Quick check (1 point): trains below the loss floor on this data.
with checks.exercise("sigmoid_head"):
    X, y = checks.binary_data(96, 4, seed=1)                # (96, 4), (96,)
    checks.check_trains_binary(make_binary_classifier(4), X, y.view(-1, 1), nn.BCEWithLogitsLoss(),
                               steps=150, max_loss=0.2)
    checks.passed("quick check: the loss falls below 0.2. " + checks.HIDDEN_NOTE)

# %% hidden sigmoid_head 3
torch.manual_seed(2)
model = make_binary_classifier(6)
checks.check_one_logit_per_sample(model, 6, sizes=(1, 2, 7), what="make_binary_classifier(6)(X)")
checks.check_batch_independence(model, torch.randn(7, 6))
X, y = checks.binary_data(150, 6, seed=6)               # (150, 6), (150,)
checks.check_trains_binary(make_binary_classifier(6), X, y.view(-1, 1), nn.BCEWithLogitsLoss(),
                           steps=150, max_loss=0.2)

# %% [markdown]
# ## Exercise 4 · Two logits per sample
#
# This model ends in `nn.Linear(F, 2)`: two logits per sample, one per class, for a softmax.
# The labels `y` are (N,) float 0./1., as for the one-logit recipe. Make `loss_two_logits` return
# the loss that fits two logits: the mean cross-entropy of the 2-class softmax, for every N, exact
# also for confident logits (|logit| > 20).

# %% answer two_logits
def loss_two_logits(logits, y):
    """logits (N, 2) float, y (N,) float 0./1. -> mean 2-class cross-entropy, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, y.long())                                # (N, 2) with (N,) int64 ids
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, y)                  # (N, 2) with (N,) float
    ### END BROKEN CODE


X, y = checks.binary_data(6, 3)                             # (N, F), (N,) float
loss_two_logits(nn.Linear(3, 2)(X), y)                      # logits (N, 2)

# %% quick two_logits 1
# Quick check (1 point): N = 4, and N = 5 with confident logits.
with checks.exercise("two_logits"):
    expected = checks.expected("two_logits")
    g = torch.Generator().manual_seed(3)
    logits, y = torch.randn(4, 2, generator=g), torch.tensor([1., 0., 0., 1.])   # (4, 2), (4,)
    checks.check_bce_loss(loss_two_logits, expected, {"logits": logits, "y": y}, loss="CrossEntropyLoss",
                          grad_of=None)
    logits, y = checks.confident_logits(5, 2, seed=3), torch.tensor([0., 1., 0., 0., 1.])   # (5, 2), (5,)
    checks.check_bce_loss(loss_two_logits, expected, {"logits": logits, "y": y}, loss="CrossEntropyLoss",
                          grad_of=None, label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: N = 4, and N = 5 with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden two_logits 2
def _inputs(N):
    g = torch.Generator().manual_seed(30 + N)
    return {"logits": 3 * torch.randn(N, 2, generator=g),                # (N, 2)
            "y": (torch.rand(N, generator=g) < 0.5).float()}            # (N,)
checks.check_bce_loss_fn(loss_two_logits, checks.expected("two_logits"), _inputs, sizes=(1, 3, 8),
                         loss="CrossEntropyLoss")                # N never equal to the 2 classes
g = torch.Generator().manual_seed(33)
args = {"logits": checks.confident_logits(7, 2, seed=33),                # (7, 2)
        "y": (torch.rand(7, generator=g) < 0.5).float()}                # (7,)
checks.check_bce_loss(loss_two_logits, checks.expected("two_logits"), args, loss="CrossEntropyLoss",
                      label=" with N = 7 and confident logits (|logit| > 20)")
X, y = checks.binary_data(96, 4, seed=5)                # (96, 4), (96,)
checks.check_trains(nn.Linear(4, 2), X, y, loss_two_logits, steps=60, min_accuracy=0.95, labels=y.long())

# %% [markdown]
# ## Exercise 5 · Several tags per sample
#
# Each photo can show any of C objects, so its labels are a **multi-hot** row: `labels` is (N, C)
# int64 with a 1 for every object present (none, one or several). The loss below keeps one tag
# per sample and trains a softmax that names a single object. Make `multilabel_loss` return the
# mean binary cross-entropy with logits over all N·C entries, for every N and C, exact also for
# confident logits (|logit| > 20).

# %% answer multilabel
def multilabel_loss(logits, labels):
    """logits (N, C) float, labels (N, C) int64 multi-hot -> mean BCE with logits over all N*C, a scalar."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(logits, labels.float())       # (N, C) with (N, C) float
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, labels.argmax(dim=1))                  # one tag per sample survives
    ### END BROKEN CODE


X, Y = checks.multilabel_data(6, 6, 4)                      # (N, F), (N, C) float multi-hot
print(Y)
multilabel_loss(nn.Linear(6, 4)(X), Y.long())               # labels (N, C) int64

# %% quick multilabel 1
# Quick check (1 point): N = 4, C = 5, and N = 3, C = 5 with confident logits.
with checks.exercise("multilabel"):
    expected = checks.expected("multilabel")
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(4, 5, generator=g)                 # (4, 5)
    labels = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]])   # (4, 5)
    checks.check_bce_loss(multilabel_loss, expected, {"logits": logits, "labels": labels}, grad_of=None)
    logits = checks.confident_logits(3, 5, seed=7)          # (3, 5)
    labels = torch.tensor([[0, 1, 0, 0, 1], [1, 0, 0, 1, 0], [0, 0, 1, 0, 0]])                     # (3, 5)
    checks.check_bce_loss(multilabel_loss, expected, {"logits": logits, "labels": labels}, grad_of=None,
                          label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: (4, 5), and (3, 5) with confident logits, give the right loss. "
                  + checks.HIDDEN_NOTE)

# %% hidden multilabel 2
def _inputs(N):
    g = torch.Generator().manual_seed(40 + N)
    return {"logits": 3 * torch.randn(N, 6, generator=g),               # (N, 6)
            "labels": torch.randint(0, 2, (N, 6), generator=g)}         # (N, 6) int64 multi-hot
checks.check_bce_loss_fn(multilabel_loss, checks.expected("multilabel"), _inputs, sizes=(1, 2, 7))
g = torch.Generator().manual_seed(44)
args = {"logits": checks.confident_logits(7, 6, seed=44),               # (7, 6)
        "labels": torch.randint(0, 2, (7, 6), generator=g)}             # (7, 6) int64
checks.check_bce_loss(multilabel_loss, checks.expected("multilabel"), args,
                      label=" with (N, C) = (7, 6) and confident logits (|logit| > 20)")
X, Y = checks.multilabel_data(96, 6, 4, seed=5)         # (96, 6), (96, 4)
checks.check_trains_binary(nn.Linear(6, 4), X, Y.long(), multilabel_loss, steps=60, min_accuracy=0.9)

# %% [markdown]
# ## Exercise 6 · Class weights for masks
#
# A segmentation model gives one logit per class and pixel, `logits` (N, C, H, W), against float
# 0./1. `masks` of the same shape. Small objects are rare, so class c's *positive* pixels get the
# weight `pos_weight[c]` (`pos_weight` is (C,)). Make `mask_loss` return the mean binary
# cross-entropy with logits, weighted per **class**, for every N, C and image size (also when H or W
# happens to equal C), exact also for confident logits (|logit| > 20).

# %% answer dense_pos_weight
def mask_loss(logits, masks, pos_weight):
    """logits (N, C, H, W), masks (N, C, H, W) float 0./1., pos_weight (C,) -> weighted mean BCE."""
    ### BEGIN SOLUTION
    # pos_weight (C,) -> (C, 1, 1): then C meets dim 1 of (N, C, H, W), not W
    return F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight.view(-1, 1, 1))
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight)  # (C,) meets W
    ### END BROKEN CODE


logits = torch.randn(2, 3, 4, 5)                            # (N, C, H, W)
masks = (torch.rand(2, 3, 4, 5) < 0.3).float()              # (N, C, H, W)
mask_loss(logits, masks, torch.tensor([1., 4., 9.]))        # pos_weight (C,)

# %% quick dense_pos_weight 1
# Quick check (1 point): (N, C, H, W) = (2, 3, 4, 5), with moderate and with confident logits.
with checks.exercise("dense_pos_weight"):
    expected = checks.expected("dense_pos_weight")
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 4, 5, generator=g)                         # (N, C, H, W)
    masks = (torch.rand(2, 3, 4, 5, generator=g) < 0.3).float()           # (N, C, H, W)
    pos_weight = torch.tensor([1., 4., 9.])                               # (C,)
    checks.check_bce_loss(mask_loss, expected, {"logits": logits, "masks": masks, "pos_weight": pos_weight},
                          grad_of=None)
    logits = checks.confident_logits(2, 3, 4, 5, seed=5)                  # (N, C, H, W)
    checks.check_bce_loss(mask_loss, expected, {"logits": logits, "masks": masks, "pos_weight": pos_weight},
                          grad_of=None, label=" with confident logits (|logit| > 20)")
    checks.passed("quick check: (2, 3, 4, 5) gives the right loss, also with confident logits. "
                  + checks.HIDDEN_NOTE)

# %% hidden dense_pos_weight 2
# N, C, H, W all different; then W == C and H == C, where a weight on the wrong axis runs silently;
# last, confident logits
for N, C, H, W, scale in ((1, 3, 4, 5, 3), (5, 4, 6, 3, 3), (2, 5, 3, 4, 3), (2, 3, 5, 3, 3),
                          (3, 4, 4, 2, 3), (3, 2, 4, 5, 0)):
    g = torch.Generator().manual_seed(50 + N + C + W)
    logits = scale * torch.randn(N, C, H, W, generator=g) if scale else \
        checks.confident_logits(N, C, H, W, seed=55)                     # (N, C, H, W)
    args = {"logits": logits,
            "masks": (torch.rand(N, C, H, W, generator=g) < 0.3).float(),    # (N, C, H, W)
            "pos_weight": torch.arange(1, C + 1).float() ** 2}               # (C,) 1, 4, 9, ...
    checks.check_bce_loss(mask_loss, checks.expected("dense_pos_weight"), args,
                          label=f" with (N, C, H, W) = {(N, C, H, W)}"
                          + ("" if scale else " and confident logits (|logit| > 20)"))
X, Y = checks.multilabel_data(2 * 6 * 7, 5, 3, seed=6)  # one sample per pixel: (84, 5), (84, 3)
X = X.view(2, 6, 7, 5).permute(0, 3, 1, 2)              # (N, F, H, W) = (2, 5, 6, 7)
Y = Y.view(2, 6, 7, 3).permute(0, 3, 1, 2)              # (N, C, H, W) = (2, 3, 6, 7)
pos_weight = torch.tensor([1., 2., 3.])                 # (C,)


def weighted_mask_loss(out, masks):
    return mask_loss(out, masks, pos_weight)


checks.check_trains_binary(nn.Conv2d(5, 3, kernel_size=1), X, Y, weighted_mask_loss, steps=80,
                           min_accuracy=0.95)

# %% [markdown]
# ## Exercise 7 · Predict the shape
#
# Predict each shape and write it as a tuple of ints (`()` for a scalar): work it out on paper
# first, that is the skill this exercise trains.
# The broken answers are common guesses; none of them is right.
#
# ```python
# N, C = 8, 3
# logits1 = nn.Linear(4, 1)(torch.randn(N, 4))          # one logit per sample
# logits = torch.randn(N, C)                            # C logits per sample
# Y = (torch.rand(N, C) < 0.5).float()                  # multi-hot
# y_ids = torch.randint(0, C, (N,))                     # class ids
# ```
#
# | name | expression |
# |---|---|
# | `shape_bce_none` | `F.binary_cross_entropy_with_logits(logits, Y, reduction="none")` |
# | `shape_ce_none` | `F.cross_entropy(logits, y_ids, reduction="none")` |
# | `shape_squeeze_n1` | `logits1[:1].squeeze()` |
# | `shape_squeeze1_n1` | `logits1[:1].squeeze(1)` |
# | `shape_broadcast` | `logits1 - Y[:, 0]` |
# | `shape_mean_bce` | `F.binary_cross_entropy_with_logits(logits, Y)` |

# %% answer predict_shape
### BEGIN SOLUTION
shape_bce_none = (8, 3)
shape_ce_none = (8,)
shape_squeeze_n1 = ()
shape_squeeze1_n1 = (1,)
shape_broadcast = (8, 8)
shape_mean_bce = ()
### END SOLUTION
### BEGIN BROKEN CODE
# shape_bce_none = (8,)
# shape_ce_none = (8, 3)
# shape_squeeze_n1 = (1,)
# shape_squeeze1_n1 = ()
# shape_broadcast = (8,)
# shape_mean_bce = (1,)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions.
with checks.exercise("predict_shape"):
    N, C = 8, 3
    logits1 = nn.Linear(4, 1)(torch.randn(N, 4))            # (N, 1)
    logits = torch.randn(N, C)                              # (N, C)
    Y = (torch.rand(N, C) < 0.5).float()                    # (N, C)
    y_ids = torch.randint(0, C, (N,))                       # (N,)
    checks.check_shape("shape_bce_none", shape_bce_none,
                       F.binary_cross_entropy_with_logits(logits, Y, reduction="none").shape)
    checks.check_shape("shape_ce_none", shape_ce_none,
                       F.cross_entropy(logits, y_ids, reduction="none").shape)
    checks.passed("quick check: the first two shapes are right. " + checks.HIDDEN_NOTE)

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
checks.check_shape("shape_squeeze_n1", shape_squeeze_n1, logits1[:1].squeeze().shape)
checks.check_shape("shape_squeeze1_n1", shape_squeeze1_n1, logits1[:1].squeeze(1).shape)
checks.check_shape("shape_broadcast", shape_broadcast, (logits1 - Y[:, 0]).shape)
checks.check_shape("shape_mean_bce", shape_mean_bce, F.binary_cross_entropy_with_logits(logits, Y).shape)
