# %% [markdown]
# # 01 · Classification — exercises
#
# Each exercise below holds **code that runs**: run its cell and you meet a real error or a wrong
# result that raises nothing. None of them is a copy of a lesson example
# (`course/01-classification-lesson.ipynb`): the data, the model or the loss is another one, so work
# out which rule of the loss's contract applies before you change anything. Fix the code **in place**,
# in the same cell, then run the check below it. Each heading ends with the kind of exercise:
#
# * `[direct application]`: a lesson example in a new setting; the lesson's fix applies.
# * `[transfer]`: the error is a real one, but the lesson's line is not the fix: derive it.
# * `[silent bug]`: nothing raises. Run the cell, read what it printed, and find what is wrong.
# * `[predict, then run]`: write down what code you cannot run will give, then let the check judge.
#
# Shapes use the lesson's names: `N` samples, `C` classes, `logits` (N, C), `y` (N,).
# Each exercise has a **quick check** you can run now, and a **full check**. At grading time the full
# check also runs hidden checks: N = 1, an odd N, the gradient, and a few training steps.
# "Quick check passed" is not full marks. A function must leave its arguments as it got them (no
# in-place changes to `logits` or `y`): the checks verify it. Stuck? `tp.hint("<exercise id>")` gives
# the next hint. Do not edit the check cells: they are restored from the instructor's copy at grading.

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
# ## Exercise 1 · Labels that arrive as a column [direct application]
#
# This dataset's `__getitem__` returns each label as `torch.tensor([label])`, so the DataLoader hands
# over a batch of labels `y` of shape (N, 1). Make `loss_from_column_labels` return the mean
# cross-entropy of the logits against those labels. It must work for every N, **including N = 1**
# (the last batch of an epoch can hold a single sample).

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
# ## Exercise 2 · Labels from several annotators [transfer]
#
# Every sample of this data set was labelled by the same number A of annotators, who do not always agree. The
# labels are stored one-hot per annotator: `onehot` is (N, A, C) int64, and `onehot[n, a]` is a row of C zeros
# with a single 1 at the class annotator a chose for sample n. The model should learn how sure the annotators
# are, not only what most of them said: the target of sample n is the fraction of its A annotators who chose
# each class, a row of C numbers that sums to 1. Make `loss_from_one_hot` return the mean cross-entropy of
# the logits against those targets. The code base computes log-probabilities for `NLLLoss`; you may keep that
# or change it. The checks use other values of N, A and C, including N = 1 and A = 1.

# %% answer one_hot
def loss_from_one_hot(logits, onehot):
    """logits (N, C) float, onehot (N, A, C) int64 -> mean cross-entropy against the annotators' class fractions."""
    log_probs = F.log_softmax(logits, dim=1)                # (N, C)
    ### BEGIN SOLUTION
    target = onehot.float().mean(dim=1)                     # (N, C) fraction of the A annotators per class
    return -(target * log_probs).sum(dim=1).mean()          # cross-entropy against class probabilities
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.nll_loss(log_probs, onehot)                    # the annotators' labels as the targets
    ### END BROKEN CODE


logits = torch.randn(4, 5)                                  # (N, C)
chosen = torch.tensor([[0, 0, 3], [1, 1, 1], [4, 2, 4], [2, 2, 0]])   # (N, A): the class each annotator chose
loss_from_one_hot(logits, F.one_hot(chosen, 5))             # one-hot (N, A, C) int64

# %% quick one_hot 1
# Quick check (1 point): N = 4, A = 3, C = 5.
with checks.exercise("one_hot"):
    logits, onehot = checks.annotated_batch(4, 3, 5, seed=2)    # (4, 5), (4, 3, 5)
    checks.check_loss(loss_from_one_hot, checks.expected("one_hot"),
                      {"logits": logits, "onehot": onehot}, loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 4, A = 3 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden one_hot 2
def _inputs(N):
    logits, onehot = checks.annotated_batch(N, 3, 6, seed=20 + N)   # (N, 6), (N, 3, 6)
    return {"logits": logits, "onehot": onehot}
checks.check_loss_fn(loss_from_one_hot, checks.expected("one_hot"),
                     _inputs, sizes=(1, 2, 7), loss="CrossEntropyLoss")
for N, A, C in ((5, 1, 4), (2, 5, 3), (9, 4, 6)):      # one annotator; more annotators than classes
    logits, onehot = checks.annotated_batch(N, A, C, seed=25 + N)   # (N, C), (N, A, C)
    checks.check_loss(loss_from_one_hot, checks.expected("one_hot"), {"logits": logits, "onehot": onehot},
                      loss="CrossEntropyLoss", label=f" with N = {N}, A = {A}, C = {C}")
X, y = checks.separable_data(96, 4, 3, seed=4)          # (96, 4), (96,)
onehot = checks.annotator_labels(y, 5, 3, seed=4)       # (96, 5, 3): most annotators agree with y
checks.check_trains(nn.Linear(4, 3), X, onehot, loss_from_one_hot, steps=60, min_accuracy=0.95, labels=y)

# %% [markdown]
# ## Exercise 3 · Survey answers from a spreadsheet column [transfer]
#
# A survey asks one question with C possible answers, numbered 1 to C on the form. The answers were read
# from a spreadsheet column that had a few empty cells (those rows were dropped), so they arrive as a
# float64 column: `y` is (N, 1) and holds values such as 1.0 or 4.0. The model gives C scores per
# respondent, and answer `k` is scored by logit column `k - 1`. Make `loss_from_one_based` return the
# mean cross-entropy. A batch need not contain every answer 1..C, and N can be 1.

# %% answer one_based
def loss_from_one_based(logits, y):
    """logits (N, C) float, y (N, 1) float64 answers 1..C -> mean cross-entropy, a scalar."""
    ### BEGIN SOLUTION
    return F.cross_entropy(logits, y[:, 0].long() - 1)      # (N,) int64 ids 0..C-1
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return F.cross_entropy(logits, y)                       # one answer per respondent
    ### END BROKEN CODE


logits = torch.randn(6, 5)                                  # (N, C)
y = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0], [2.0]], dtype=torch.float64)   # (N, 1) answers 1..5
loss_from_one_based(logits, y)

# %% quick one_based 1
# Quick check (1 point): N = 6, C = 5, every answer 1..C present.
with checks.exercise("one_based"):
    logits, _ = checks.class_batch(6, 5, seed=3)            # (6, 5)
    answers = (torch.arange(6) % 5 + 1).double()[:, None]   # (6, 1) float64, every answer 1..5
    checks.check_loss(loss_from_one_based, checks.expected("one_based"),
                      {"logits": logits, "y": answers}, loss="CrossEntropyLoss", grad_of=None)
    checks.passed("quick check: N = 6 gives the right loss. " + checks.HIDDEN_NOTE)

# %% hidden one_based 2
def _inputs(N):
    logits, y = checks.class_batch(N, 4, seed=30 + N)   # (N, 4), (N,)
    return {"logits": logits, "y": (y + 1).double()[:, None]}   # answers 1..C as a float64 column
checks.check_loss_fn(loss_from_one_based, checks.expected("one_based"),
                     _inputs, sizes=(1, 2, 7), loss="CrossEntropyLoss")
logits, _ = checks.class_batch(5, 6, seed=35)           # (5, 6): no answer 1 in this batch
answers = torch.tensor([[2.0], [6.0], [3.0], [6.0], [4.0]], dtype=torch.float64)   # (5, 1)
checks.check_loss(loss_from_one_based, checks.expected("one_based"), {"logits": logits, "y": answers},
                  loss="CrossEntropyLoss", label=" for a batch without answer 1")
X, y = checks.separable_data(96, 4, 3, seed=5)          # (96, 4), (96,)
checks.check_trains(nn.Linear(4, 3), X, (y + 1).double()[:, None], loss_from_one_based, steps=60,
                    min_accuracy=0.95, labels=y)

# %% [markdown]
# ## Exercise 4 · A classifier whose loss never gets low [silent bug]
#
# `make_classifier` builds the model; the loop below trains it with `nn.CrossEntropyLoss`, and
# `tp.overfit_one_batch` tries to learn 16 samples by heart. Nothing raises, and the accuracy looks
# fine. Run the cell, read what the two lines say, and fix the model so that CrossEntropyLoss gets what
# it expects. Keep one row of `n_classes` scores per sample, (N, n_classes), for any `n_features` and
# `n_classes`.

# %% answer softmax_head
class Classifier(nn.Module):
    """An MLP for nn.CrossEntropyLoss: X (N, n_features) -> (N, n_classes)."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(n_features, 32), nn.ReLU())
        self.out = nn.Linear(32, n_classes)

    def forward(self, X):
        h = self.hidden(X)                                  # (N, 32)
        ### BEGIN SOLUTION
        return self.out(h)                                  # (N, n_classes) raw scores
        ### END SOLUTION
        ### BEGIN BROKEN CODE
        # return torch.sigmoid(self.out(h))                   # (N, n_classes) one score per class
        ### END BROKEN CODE


def make_classifier(n_features, n_classes):
    return Classifier(n_features, n_classes)


X, y = checks.separable_data(96, 4, 3)                      # (N, F), (N,)
model = make_classifier(4, 3)
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(150):
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(model(X), y)               # (N, C) with (N,)
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.3f}, accuracy {(model(X).argmax(1) == y).float().mean():.3f}")
last_loss = tp.overfit_one_batch(make_classifier(4, 3), X[:16], y[:16], nn.CrossEntropyLoss())

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
# ## Exercise 5 · A top-k accuracy that flatters a constant model [silent bug]
#
# With many classes, a model is often judged by its *top-k accuracy*: the fraction of samples whose label is
# among their k highest logits (k = 1 is the usual accuracy). `logits.topk(k, dim=1).indices` holds, for each
# sample, the ids of its k highest-scoring classes, best first. `accuracy(logits, y, k=1)` gets the logits
# (N, C), the labels `y` (N,) and k (1 <= k <= C), and should return the top-k accuracy as a Python float.
# Below it is given a model that ranks the classes the same way for every sample, class 0 first. Run the cell
# and compare what it prints with what that model must score: count by hand. The checks also try k = 2 and
# k = 3, N = 1 and an odd N.

# %% answer accuracy
def accuracy(logits, y, k=1):
    """logits (N, C) float, y (N,) int64, k -> fraction of samples whose label is among their k best classes."""
    top = logits.topk(k, dim=1).indices                     # the k highest-scoring classes of each sample
    ### BEGIN SOLUTION
    hits = (top == y[:, None]).any(dim=1)                   # (N, k) with (N, 1): is y[n] in row n?
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # hits = (top == y).any(dim=1)                            # does any of the k classes equal the label?
    ### END BROKEN CODE
    return hits.float().mean().item()


y = torch.tensor([2, 0, 1, 1, 0, 2, 2])                     # (N,)
constant = torch.tensor([3.0, 2.0, 1.0]).repeat(7, 1)       # (N, C): class 0 first, then 1, then 2
print(f"top-1 accuracy of the constant model: {accuracy(constant, y):.4f}")

# %% quick accuracy 1
# Quick check (1 point): top-1 accuracy, N = 6, C = 4, a model that ranks every sample alike.
with checks.exercise("accuracy"):
    y = torch.tensor([0, 1, 3, 3, 1, 2])                    # (6,)
    constant = torch.tensor([0.5, 2.0, -1.0, 1.0]).repeat(6, 1)   # (6, 4): class 1 first
    checks.check_accuracy(accuracy, constant, y, checks.expected("accuracy")(constant, y))
    checks.passed("quick check: the top-1 accuracy is right. " + checks.HIDDEN_NOTE)

# %% hidden accuracy 2
for N, C, k in ((1, 3, 2), (2, 4, 1), (7, 5, 2), (5, 6, 3), (9, 4, 3)):   # N = 1, odd N; N, C, k distinct
    logits, y = checks.class_batch(N, C, seed=40 + N)   # (N, C), (N,)
    checks.check_accuracy(accuracy, logits, y, checks.expected("accuracy")(logits, y, k), k=k,
                          python_float=True, label=f" with N = {N}, C = {C}")
    last = -10 * F.one_hot(y, C).float()                # (N, C) every label ranked last
    checks.check_accuracy(accuracy, last, y, 0.0, k=k, label=f" with N = {N}, C = {C}")
    checks.check_accuracy(accuracy, logits, y, 1.0, k=C, label=f" with N = {N}, C = {C}")

# %% [markdown]
# ## Exercise 6 · Per-class rates that do not add up [silent bug]
#
# A confusion table counts, for each true class i and predicted class j, the samples of class i whose
# highest logit is class j. Dividing each row by its own total turns it into rates: row i says how the
# samples of class i were spread over the predictions, so **every row sums to 1**, and the diagonal holds
# the fraction of each class that the model gets right. `confusion_rates` should return that (C, C) float
# table for logits (N, C) and labels `y` (N,). A class with no sample in `y` has a row of 0 / 0; such
# rows are not checked. Run the cell and look at the table it prints and at its row sums.

# %% answer confusion_rates
def confusion_rates(logits, y):
    """logits (N, C) float, y (N,) int64 -> (C, C) float: row i = how the samples of class i were predicted."""
    C = logits.shape[1]
    pred = logits.argmax(dim=1)                             # (N,)
    counts = torch.zeros(C, C)                              # (C, C)
    for i, j in zip(y.tolist(), pred.tolist()):
        counts[i, j] += 1                                   # a sample of class i predicted as j
    ### BEGIN SOLUTION
    return counts / counts.sum(dim=1, keepdim=True)         # (C, C) / (C, 1): row i by its own total
    ### END SOLUTION
    ### BEGIN BROKEN CODE
    # return counts / counts.sum(dim=1)                       # each row divided by its total
    ### END BROKEN CODE


y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])              # (N,) 4, 2 and 3 samples of classes 0, 1, 2
pred = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 0])           # (N,) what a model predicted
rates = confusion_rates(5 * F.one_hot(pred, 3).float(), y)  # (C, C) from logits whose argmax is pred
print(rates)
print("row sums", rates.sum(dim=1))

# %% quick confusion_rates 1
# Quick check (1 point): N = 11, C = 4, every class present.
with checks.exercise("confusion_rates"):
    logits, y = checks.class_batch(11, 4, seed=5)           # (11, 4), (11,)
    checks.check_confusion_rates(confusion_rates, logits, y, checks.expected("confusion_rates")(logits, y))
    checks.passed("quick check: N = 11 gives the right table. " + checks.HIDDEN_NOTE)

# %% hidden confusion_rates 2
for N, C in ((1, 3), (7, 4), (9, 2), (13, 5)):          # N = 1, odd N; N never equal to C
    logits, y = checks.class_batch(N, C, seed=60 + N)   # (N, C), (N,)
    checks.check_confusion_rates(confusion_rates, logits, y, checks.expected("confusion_rates")(logits, y),
                                 label=f" with N = {N}, C = {C}")
    perfect = 5 * F.one_hot(y, C).float()               # (N, C) every prediction right
    checks.check_confusion_rates(confusion_rates, perfect, y, checks.expected("confusion_rates")(perfect, y),
                                 label=f" with N = {N}, C = {C}, perfect predictions")

# %% [markdown]
# ## Exercise 7 · Shapes in a pipeline you cannot run [predict, then run]
#
# Nothing in this notebook builds the pipeline described below, so work each shape out on paper and write it
# as a tuple of ints (`()` for a scalar). Then run the check: it judges all predictions at once and names
# the ones that miss, never their answer. For each miss, write one sentence in `why` saying which step
# you misread (`why["shape_y"] = "..."`), then correct the prediction.
#
# **The pipeline.** A plankton classifier: each sample is 48 measurements of one organism, and its label
# is one of 9 species. The dataset's `__getitem__(i)` returns `(x, torch.tensor([species]))` with `x` of
# shape (48,). The loader is `DataLoader(dataset, batch_size=64)` (no shuffling; the last, shorter batch
# is kept), and the model is `nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 9))`.
#
# With **1,000 samples**, take the **last** batch `X, y` of an epoch and `logits = model(X)`:
#
# | name | expression |
# |---|---|
# | `shape_y` | `y` |
# | `shape_logits` | `logits` |
# | `shape_loss_none` | `F.cross_entropy(logits, y[:, 0], reduction="none")` |
# | `shape_hits` | `logits.argmax(dim=1) == y` |
# | `shape_loss` | `F.cross_entropy(logits, y.view(-1))` |
#
# With **1,025 samples** instead, the last batch `X, y` and its `logits = model(X)`:
#
# | name | expression |
# |---|---|
# | `shape_y_squeezed` | `y.squeeze()` |
# | `shape_logits_squeezed` | `logits.squeeze()` |
#
# And if `__getitem__` returned the label as a one-element **list** `[species]` instead, with the first
# batch's labels called `y`:
#
# | name | expression |
# |---|---|
# | `shape_first_label_tensor` | `y[0]` |

# %% answer predict_shape
### BEGIN SOLUTION
shape_y = (40, 1)
shape_logits = (40, 9)
shape_loss_none = (40,)
shape_hits = (40, 40)
shape_loss = ()
shape_y_squeezed = ()
shape_logits_squeezed = (9,)
shape_first_label_tensor = (64,)
why = {}
### END SOLUTION
### BEGIN BROKEN CODE
# shape_y = None
# shape_logits = None
# shape_loss_none = None
# shape_hits = None
# shape_loss = None
# shape_y_squeezed = None
# shape_logits_squeezed = None
# shape_first_label_tensor = None
# why = {}
### END BROKEN CODE

# %% quick predict_shape 2
# Quick check (2 points): every prediction, judged at once.
with checks.exercise("predict_shape"):
    predictions = {"shape_y": shape_y, "shape_logits": shape_logits, "shape_loss_none": shape_loss_none,
                   "shape_hits": shape_hits, "shape_loss": shape_loss, "shape_y_squeezed": shape_y_squeezed,
                   "shape_logits_squeezed": shape_logits_squeezed,
                   "shape_first_label_tensor": shape_first_label_tensor}
    checks.check_predictions(predictions, checks.expected("predict_shape")(), why)
    checks.passed("quick check: all 8 predictions are right. The full check at grading judges them again; "
                  "nothing about them is hidden.")

# %% hidden predict_shape 2
# Full check (2 points): the same predictions, judged again at grading.
checks.check_predictions(predictions, checks.expected("predict_shape")(), why)
