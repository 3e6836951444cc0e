# %% [markdown]
# # 01 · Classification — exercises
#
# Each exercise below holds **broken code that runs**: run its cell and you meet the real error
# (or the silent wrong result) that the lesson `course/01-classification-lesson.ipynb` explains.
# Fix the code **in place**, in the same cell, then run the check below it.
#
# * Shapes use the lesson's names: `N` samples, `C` classes, `logits` (N, C), `y` (N,).
# * Each exercise has a **quick check** you can run now, and a **full check**. At grading time the
#   full check also runs hidden checks: N = 1, an odd N, the gradient, and a few training steps.
#   "Quick check passed" is not full marks.
# * A function must leave its arguments as it got them (no in-place changes to `logits` or `y`):
#   the checks verify it.
# * Do not edit the check cells: they are restored from the instructor's copy at grading.

# %% locked setup
import torch
import torch.nn as nn
import torch.nn.functional as F

import targetpractice as tp
from targetpractice import checks

checks.topic("01-classification")   # tp.hint("<exercise>") shows this notebook's hints

torch.manual_seed(0)
torch.set_num_threads(1)   # tiny tensors: one thread is faster than two fighting over a laptop's cores

# %% [markdown]
# ## Exercise 1 · Labels that arrive as a column (N, 1)
#
# Labels read from a table column often come out as a column vector `y` of shape (N, 1).
# `F.cross_entropy` wants one class id per sample: shape (N,). Make `loss_from_column_labels`
# return the mean cross-entropy. It must work for every N, **including N = 1**.

# %% answer column_labels
def loss_from_column_labels(logits, y):
    """logits (N, C) float, y (N, 1) int64 -> mean cross-entropy, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, y.squeeze(1))            # (N, C) with (N,)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)                       # (N, C) with (N, 1)
    ### END BROKEN CODE


logits, y = checks.class_batch(4, 5)                        # (N, C), (N,)
loss_from_column_labels(logits, y[:, None])                 # y[:, None] is (N, 1)

# %% quick column_labels 1
# Quick check (1 point): N = 4.
with checks.exercise("column_labels"):
    logits, y = checks.class_batch(4, 5, seed=1)            # (4, 5), (4,)
    checks.check_loss(loss_from_column_labels, checks.expected("column_labels"),
                      {"logits": logits, "y": y[:, None]}, loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 4 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden column_labels 2
def _inputs(N):
    logits, y = checks.class_batch(N, 5, seed=10 + N)   # (N, 5), (N,)
    return {"logits": logits, "y": y[:, None]}          # y as (N, 1)
checks.check_loss_fn(loss_from_column_labels, checks.expected("column_labels"),
                     _inputs, sizes=(1, 2, 7), loss="CrossEntropyLoss")
X, y = checks.separable_data(96, 4, 3, seed=3)          # (96, 4), (96,)
checks.check_trains(nn.Linear(4, 3), X, y[:, None], loss_from_column_labels, steps=60, min_accuracy=0.95)

# %% [markdown]
# ## Exercise 2 · One-hot labels stored as int64
#
# This dataset stores each label one-hot: `onehot` is (N, C) int64 with a single 1 per row.
# Make `loss_from_one_hot` return the mean cross-entropy of the logits against those labels.

# %% answer one_hot
def loss_from_one_hot(logits, onehot):
    """logits (N, C) float, onehot (N, C) int64 -> mean cross-entropy, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, onehot.argmax(dim=1))    # (N, C) with (N,) ids
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, onehot)                  # (N, C) with (N, C) int64
    ### END BROKEN CODE


logits, y = checks.class_batch(4, 5)                        # (N, C), (N,)
loss_from_one_hot(logits, F.one_hot(y, 5))                  # one-hot (N, C) int64

# %% quick one_hot 1
# Quick check (1 point): N = 4.
with checks.exercise("one_hot"):
    logits, y = checks.class_batch(4, 5, seed=2)            # (4, 5), (4,)
    checks.check_loss(loss_from_one_hot, checks.expected("one_hot"),
                      {"logits": logits, "onehot": F.one_hot(y, 5)}, loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 4 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden one_hot 2
def _inputs(N):
    logits, y = checks.class_batch(N, 6, seed=20 + N)   # (N, 6), (N,)
    return {"logits": logits, "onehot": F.one_hot(y, 6)}
checks.check_loss_fn(loss_from_one_hot, checks.expected("one_hot"),
                     _inputs, sizes=(1, 2, 7), loss="CrossEntropyLoss")
X, y = checks.separable_data(96, 4, 3, seed=4)          # (96, 4), (96,)
checks.check_trains(nn.Linear(4, 3), X, F.one_hot(y, 3), loss_from_one_hot, steps=60, min_accuracy=0.95,
                    labels=y)

# %% [markdown]
# ## Exercise 3 · Labels numbered 1 to C
#
# A survey numbers its answers 1..C. CrossEntropyLoss numbers classes 0..C-1, so class C does
# not exist for it. Make `loss_from_one_based` give the mean cross-entropy where label `k` means logit
# column `k - 1`. A batch need not contain every answer 1..C.

# %% answer one_based
def loss_from_one_based(logits, y):
    """logits (N, C) float, y (N,) int64 with values 1..C -> mean cross-entropy, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, y - 1)                   # ids shifted to 0..C-1
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)                       # ids 1..C: C is out of range
    ### END BROKEN CODE


logits = torch.randn(6, 5)                                  # (N, C)
y = torch.tensor([1, 2, 3, 4, 5, 2])                        # (N,) answers 1..5
loss_from_one_based(logits, y)

# %% quick one_based 1
# Quick check (1 point): N = 6, C = 5, every label 1..C present.
with checks.exercise("one_based"):
    logits, y = checks.class_batch(6, 5, seed=3)            # (6, 5), (6,)
    y = torch.arange(6) % 5                                 # (6,) 0-based truth, every class
    checks.check_loss(loss_from_one_based, checks.expected("one_based"),
                      {"logits": logits, "y": y + 1}, loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 6 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden one_based 2
def _inputs(N):
    logits, y = checks.class_batch(N, 4, seed=30 + N)   # (N, 4), (N,)
    return {"logits": logits, "y": y + 1}               # labels 1..C
checks.check_loss_fn(loss_from_one_based, checks.expected("one_based"),
                     _inputs, sizes=(1, 2, 7), loss="CrossEntropyLoss")
X, y = checks.separable_data(96, 4, 3, seed=5)          # (96, 4), (96,)
checks.check_trains(nn.Linear(4, 3), X, y + 1, loss_from_one_based, steps=60, min_accuracy=0.95, labels=y)

# %% [markdown]
# ## Exercise 4 · A classifier whose loss never gets low
#
# `make_classifier` builds the model; the loop below trains it with `nn.CrossEntropyLoss`.
# The accuracy looks fine, yet the loss stalls far above zero (the lesson measured this floor).
# Fix the model so that CrossEntropyLoss gets what it expects. Keep one row of `n_classes` scores per
# sample, (N, n_classes), for any `n_features` and `n_classes`.

# %% answer softmax_head
def make_classifier(n_features, n_classes):
    """An MLP for nn.CrossEntropyLoss: X (N, n_features) -> (N, n_classes)."""
    ### BEGIN SOLUTION
    return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, n_classes))
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, n_classes),
    #                      nn.Softmax(dim=1))
    ### END BROKEN CODE


X, y = checks.separable_data(96, 4, 3)                      # (N, F), (N,)
model = make_classifier(4, 3)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(150):
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(model(X), y)               # (N, C) with (N,)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.3f}, accuracy {(model(X).argmax(1) == y).float().mean():.3f}")

# %% quick softmax_head 1
# Quick check (1 point): trains below the loss floor on this data.
with checks.exercise("softmax_head"):
    torch.manual_seed(1)
    X, y = checks.separable_data(96, 4, 3, seed=1)          # (96, 4), (96,)
    model = make_classifier(4, 3)
    checks.check_classifier_shape(model, 4, 3, sizes=(5,), what="make_classifier(4, 3)(X)")
    checks.check_raw_scores(model, X[:5], what="make_classifier(4, 3)(X)")
    checks.check_trains(model, X, y, nn.CrossEntropyLoss(), steps=150, max_loss=0.2)
    checks.passed("quick check: raw scores (N, C), and the loss falls below 0.2. " + checks.HIDDEN_NOTE)

# %% hidden softmax_head 3
torch.manual_seed(2)
model = make_classifier(6, 5)                           # F = 6, C = 5; N below is 1, 2 or 7
checks.check_classifier_shape(model, 6, 5, sizes=(1, 2, 7), what="make_classifier(6, 5)(X)")
checks.check_raw_scores(model, torch.randn(7, 6), what="make_classifier(6, 5)(X)")
checks.check_batch_independence(model, torch.randn(7, 6))
X, y = checks.separable_data(150, 6, 5, seed=6)         # (150, 6), (150,)
checks.check_trains(make_classifier(6, 5), X, y, nn.CrossEntropyLoss(), steps=150, max_loss=0.2)

# %% [markdown]
# ## Exercise 5 · An accuracy that is wrong on perfect predictions
#
# `accuracy` gets the logits (N, C) and labels `y` as a column (N, 1), and should return the
# fraction of samples whose highest logit is their label, as a Python float. Right now it
# reports far less than 1.0 for predictions that are all correct.

# %% answer accuracy
def accuracy(logits, y):
    """logits (N, C) float, y (N, 1) int64 -> fraction correct, a float in [0, 1]."""
    pred = logits.argmax(dim=1)                             # (N,)
    ### BEGIN SOLUTION
    return (pred == y.squeeze(1)).float().mean().item()     # (N,) == (N,)
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return (pred == y).float().mean().item()                # (N,) == (N, 1) -> (N, N)
    ### END BROKEN CODE


y = torch.tensor([0, 1, 2, 2, 1, 0])                        # (N,)
perfect = 10 * F.one_hot(y, 3).float()                      # (N, C) logits that are all right
accuracy(perfect, y[:, None])

# %% quick accuracy 1
# Quick check (1 point): perfect predictions score exactly 1.0.
with checks.exercise("accuracy"):
    y = torch.tensor([0, 1, 2, 2, 1, 0])                    # (6,)
    perfect = 10 * F.one_hot(y, 3).float()                  # (6, 3) logits that are all right
    checks.check_accuracy(accuracy, perfect, y[:, None], 1.0)
    checks.passed("quick check: perfect predictions give 1.0. " + checks.HIDDEN_NOTE)

# %% hidden accuracy 2
for N, C in ((1, 3), (2, 4), (7, 3), (5, 6)):          # N = 1, an odd N; N never equal to C
    logits, y = checks.class_batch(N, C, seed=40 + N)   # (N, C), (N,)
    checks.check_accuracy(accuracy, logits, y[:, None], checks.expected("accuracy")(logits, y),
                          python_float=True, label=f" with N = {N}, C = {C}")
    wrong = -10 * F.one_hot(y, C).float()               # (N, C) every prediction wrong
    checks.check_accuracy(accuracy, wrong, y[:, None], 0.0, label=f" with N = {N}, C = {C}")

# %% [markdown]
# ## Exercise 6 · Predict the shape
#
# Before running anything, predict each shape and write it as a tuple of ints (`()` for a scalar).
# The broken answers are common guesses; at most a few are right.
#
# ```python
# N, C = 8, 3
# X = torch.randn(N, 4)                                # (N, 4)
# logits = nn.Linear(4, C)(X)
# y = torch.randint(0, C, (N,))
# ```
#
# | name | expression |
# |---|---|
# | `shape_logits` | `logits` |
# | `shape_loss_none` | `F.cross_entropy(logits, y, reduction="none")` |
# | `shape_probs` | `logits.softmax(dim=1)` |
# | `shape_pred` | `logits.argmax(dim=1)` |
# | `shape_compare_column` | `logits.argmax(dim=1) == y[:, None]` |
# | `shape_mean_loss` | `F.cross_entropy(logits, y)` |

# %% answer predict_shape
### BEGIN SOLUTION
shape_logits = (8, 3)
shape_loss_none = (8,)
shape_probs = (8, 3)
shape_pred = (8,)
shape_compare_column = (8, 8)
shape_mean_loss = ()
### END SOLUTION
### BEGIN BROKEN CODE
# shape_logits = (8, 3)
# shape_loss_none = (8, 3)
# shape_probs = (8,)
# shape_pred = (8, 1)
# shape_compare_column = (8,)
# shape_mean_loss = (1,)
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): the first two predictions.
with checks.exercise("predict_shape"):
    N, C = 8, 3
    X = torch.randn(N, 4)                                   # (N, 4)
    logits = nn.Linear(4, C)(X)                             # (N, C)
    y = torch.randint(0, C, (N,))                           # (N,)
    checks.check_shape("shape_logits", shape_logits, logits.shape)
    loss_none = F.cross_entropy(logits, y, reduction="none")   # (N,)
    checks.check_shape("shape_loss_none", shape_loss_none, loss_none.shape)
    checks.passed("quick check: the first two shapes are right. " + checks.HIDDEN_NOTE)

# %% hidden predict_shape 2
# Full check (2 points): the quick check again; the other four predictions are checked at grading.
checks.check_shape("shape_probs", shape_probs, logits.softmax(dim=1).shape)
checks.check_shape("shape_pred", shape_pred, logits.argmax(dim=1).shape)
checks.check_shape("shape_compare_column", shape_compare_column, (logits.argmax(dim=1) == y[:, None]).shape)
checks.check_shape("shape_mean_loss", shape_mean_loss, F.cross_entropy(logits, y).shape)
